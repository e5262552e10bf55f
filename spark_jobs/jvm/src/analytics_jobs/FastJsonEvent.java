package analytics_jobs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The fields of one JSON-lines event, for the lines whose reading leaves no doubt; null for every
 * other line, which the ingest then reads with Spark's own from_json (analytics_jobs.transforms.events).
 *
 * <p>Spark's from_json builds a java.io.Reader for every value and the one-object check tokenizes the
 * line a second time: two thirds of the cost of a JSON line. This reads the line once, from its
 * characters. It answers only when the answer is the one from_json gives: the line is exactly one
 * object (nothing but whitespace after it); event_id, event_type, user_id and timestamp are strings
 * or null; properties is an object or null, whose page and device are strings or null and whose
 * duration_ms is a string, an integer (its text, so -0 stays -0) or null; none of these keys
 * appears twice or in another case. Anything else (a number where text is expected, a float
 * duration, a byte-order mark, invalid UTF-8, any syntax error) returns null.
 *
 * <p>Returns (event_id, event_type, user_id, timestamp, page, duration_ms, device), all strings.
 */
public final class FastJsonEvent implements UDF1<String, Row> {
    private static final long serialVersionUID = 1L;
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final String[] TOP = {"event_id", "event_type", "user_id", "timestamp"};
    private static final String[] PROPERTIES = {"page", "duration_ms", "device"};
    private static final int DURATION = 5;

    @Override
    public Row call(String line) {
        if (line == null || line.isEmpty() || line.charAt(0) == '\uFEFF' || line.indexOf('\uFFFD') >= 0) {
            return null;
        }
        String[] fields = new String[TOP.length + PROPERTIES.length];
        boolean[] seen = new boolean[fields.length + 1]; // the last one: properties
        try (JsonParser parser = FACTORY.createParser(line)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (name.equals("properties")) {
                    if (seen[fields.length] || !readProperties(parser, value, fields, seen)) {
                        return null;
                    }
                    seen[fields.length] = true;
                    continue;
                }
                int index = indexOf(TOP, name);
                if (index == -2 || name.equalsIgnoreCase("properties")) {
                    return null;
                }
                if (index < 0) {
                    parser.skipChildren();
                } else if (seen[index] || !readString(parser, value, fields, index, false)) {
                    return null;
                } else {
                    seen[index] = true;
                }
            }
            if (parser.currentToken() != JsonToken.END_OBJECT || parser.nextToken() != null) {
                return null;
            }
        } catch (Exception unreadable) {
            return null; // from_json says what is wrong with it
        }
        return RowFactory.create((Object[]) fields);
    }

    private static boolean readProperties(JsonParser parser, JsonToken value, String[] fields, boolean[] seen)
            throws java.io.IOException {
        if (value == JsonToken.VALUE_NULL) {
            return true;
        }
        if (value != JsonToken.START_OBJECT) {
            return false;
        }
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken inner = parser.nextToken();
            int index = indexOf(PROPERTIES, name);
            if (index == -2) {
                return false;
            }
            if (index < 0) {
                parser.skipChildren();
                continue;
            }
            index += TOP.length;
            if (seen[index] || !readString(parser, inner, fields, index, index == DURATION)) {
                return false;
            }
            seen[index] = true;
        }
        return parser.currentToken() == JsonToken.END_OBJECT;
    }

    private static boolean readString(
            JsonParser parser, JsonToken value, String[] fields, int index, boolean integerToo)
            throws java.io.IOException {
        if (value == JsonToken.VALUE_STRING || (integerToo && value == JsonToken.VALUE_NUMBER_INT)) {
            fields[index] = parser.getText();
            return true;
        }
        return value == JsonToken.VALUE_NULL;
    }

    /** The key's position in names; -1 for another key, -2 for one of names in another case. */
    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        for (String known : names) {
            if (known.equalsIgnoreCase(name)) {
                return -2;
            }
        }
        return -1;
    }
}
