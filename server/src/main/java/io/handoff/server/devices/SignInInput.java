package io.handoff.server.devices;

/** The checks on what a device signing in sends: its id, name and platform, its device code. */
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
