package io.handoff.server.devices;

/**
 * The checks on what a device signing in sends (its id, name and platform, its device code), and
 * the answer to a held sign-in taken back.
 */
final class SignInInput {
  private static final int MAX_DEVICE_ID_CHARS = 256;
  private static final int MAX_NAME_CHARS = 128;
  private static final int MAX_PLATFORM_CHARS = 64;
  private static final int MAX_DEVICE_CODE_CHARS = 128;

  private SignInInput() {}

  /** The refusal of a device id, name or platform out of bounds, else null. */
  static ApiException checkDevice(String deviceId, String name, String platform) {
    if (deviceId == null || deviceId.isEmpty() || deviceId.length() > MAX_DEVICE_ID_CHARS) {
      return new ApiException(
          400, "invalid_request", "device_id must be 1-" + MAX_DEVICE_ID_CHARS + " chars");
    }
    if (name != null && name.length() > MAX_NAME_CHARS) {
      return new ApiException(
          400, "invalid_request", "device_name must be at most " + MAX_NAME_CHARS + " chars");
    }
    if (platform != null && platform.length() > MAX_PLATFORM_CHARS) {
      return new ApiException(
          400, "invalid_request", "platform must be at most " + MAX_PLATFORM_CHARS + " chars");
    }
    return null;
  }

  /**
   * A held sign-in taken back because {@code why} ({@link ApprovalStore#approvable}): with no
   * approver it signs in at once (null: no hold); while the user is being erased it is refused with
   * 503, to be sent again once the erasure ended (and then signs in at once, or is held if another
   * device of the user has a session by then), never signed in unapproved.
   */
  static DeviceApprovals.Held takenBack(ApprovalStore.Approvable why) {
    if (why == ApprovalStore.Approvable.ERASING) {
      throw new ApiException(
          503,
          "unavailable",
          "this user's data is being erased; sign in again in a moment",
          ERASING_RETRY_SECONDS);
    }
    return null;
  }

  private static final long ERASING_RETRY_SECONDS = 1;

  /** {id, secret} of a well-formed device code, else null. */
  static String[] parseDeviceCode(String code) {
    if (code == null || code.length() > MAX_DEVICE_CODE_CHARS) {
      return null;
    }
    String[] parts = code.split("\\.", -1);
    if (parts.length != 3
        || !parts[0].equals("dc1")
        || parts[1].isEmpty()
        || parts[2].length() < 40) {
      return null;
    }
    return new String[] {parts[1], parts[2]};
  }
}
