package io.handoff.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import io.handoff.protocol.bus.v1.BusProto;
import io.handoff.protocol.v1.HandoffProto;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Wire compatibility: every field and enum value of the schema, with its number and type, as
 * recorded in {@code schema-v1.txt}. A field that changes number or type, or disappears, breaks
 * devices already in the field; this test fails first. Adding a field means adding its line.
 */
class SchemaStabilityTest {
  private static List<String> lines(FileDescriptor file) {
    List<String> out = new ArrayList<>();
    for (Descriptor m : file.getMessageTypes()) {
      message(m, out);
    }
    for (EnumDescriptor e : file.getEnumTypes()) {
      enumeration(e, out);
    }
    return out;
  }

  private static void message(Descriptor m, List<String> out) {
    for (FieldDescriptor f : m.getFields()) {
      String type =
          switch (f.getJavaType()) {
            case MESSAGE -> f.getMessageType().getFullName();
            case ENUM -> f.getEnumType().getFullName();
            default -> f.getType().name().toLowerCase();
          };
      out.add(
          m.getFullName()
              + "."
              + f.getName()
              + " = "
              + f.getNumber()
              + " "
              + (f.isRepeated() ? "repeated " : "")
              + type);
    }
    for (Descriptor nested : m.getNestedTypes()) {
      message(nested, out);
    }
    for (EnumDescriptor e : m.getEnumTypes()) {
      enumeration(e, out);
    }
  }

  private static void enumeration(EnumDescriptor e, List<String> out) {
    for (EnumValueDescriptor v : e.getValues()) {
      out.add(e.getFullName() + "." + v.getName() + " = " + v.getNumber());
    }
  }

  private static List<String> recorded() throws IOException {
    try (InputStream in = SchemaStabilityTest.class.getResourceAsStream("/schema-v1.txt")) {
      List<String> out = new ArrayList<>();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank() && !line.startsWith("#")) {
          out.add(line.strip());
        }
      }
      return out;
    }
  }

  @Test
  void everyRecordedFieldKeepsItsNumberAndType() throws IOException {
    TreeSet<String> now = new TreeSet<>(lines(HandoffProto.getDescriptor()));
    now.addAll(lines(BusProto.getDescriptor()));
    List<String> missing = new ArrayList<>();
    for (String line : recorded()) {
      if (!now.contains(line)) {
        missing.add(line);
      }
    }
    assertEquals(List.of(), missing, "fields changed or removed: old devices would break");
  }

  @Test
  void everyFieldIsRecorded() throws IOException {
    TreeSet<String> recorded = new TreeSet<>(recorded());
    List<String> unrecorded = new ArrayList<>();
    for (FileDescriptor f : List.of(HandoffProto.getDescriptor(), BusProto.getDescriptor())) {
      for (String line : lines(f)) {
        if (!recorded.contains(line)) {
          unrecorded.add(line);
        }
      }
    }
    assertTrue(
        unrecorded.isEmpty(),
        "new fields: append these lines to protocol/src/test/resources/schema-v1.txt: "
            + String.join("\n", unrecorded));
  }
}
