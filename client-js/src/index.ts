export { HandoffClient, MAX_TOKEN_LENGTH, type HandoffClientOptions, type FollowOption } from "./client.js";
export {
  bearerWebSocket,
  queryParameterWebSocket,
  type WebSocketFactory,
  type WebSocketLike,
} from "./websocket.js";
export { Document, Edit, type DocumentChange, type FieldChange, type FieldValue } from "./document.js";
export { type ConnectionState, type ClientEvents, isReconnectCode } from "./engine.js";
export { HandoffError, type HandoffErrorCode, type ApiErrorCode, OUTCOME_UNKNOWN } from "./errors.js";
export { Approvals } from "./approvals.js";
export {
  DeviceSignIn,
  DEVICE_CODE_GRANT,
  type DeviceCode,
  type DeviceDescription,
  type DeviceSession,
  type DeviceSignInOptions,
  type PendingSignIn,
  type SignIn,
} from "./sign-in.js";
export { type HandoffEvents, type OutgoingOffer } from "./requests.js";
export {
  MemoryStore,
  IndexedDbStore,
  type OfflineStore,
  type StoredState,
  type StoredWrite,
  type StoredDocument,
  type StoredOp,
} from "./store.js";
export {
  type Activity,
  type ApprovalRequest,
  ApprovalKind,
  ApprovalOutcome,
  type DeviceInfo,
  type DevicePresence,
  type Offer,
  type OfferGranted,
  type OfferResult,
  OfferOutcome,
  ErrorCode,
} from "./gen/handoff/v1/handoff_pb.js";
