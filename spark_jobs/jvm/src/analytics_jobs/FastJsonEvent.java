package analytics_jobs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The fields of one JSON-lines event, for the lines whose reading leaves no doubt; null for every
 * other line, which the ingest then reads with Spark's own from_json (analytics_jobs.transforms.events).
 *
 * <p>Spark's from_json builds a java.io.Reader for every value and the one-object check tokenizes the
 * line a second time: about 40% of the cost of a JSON line in the ingest (docs/performance.md). This
 * reads the line once, from its characters. It answers only when the answer is the one from_json gives: the line is exactly one
 * object (nothing but whitespace after it); event_id, event_type, user_id and timestamp are strings
 * or null; properties is an object or null, whose page and device are strings or null and whose
 * duration_ms is a string, a non-zero integer (its text) or null; none of these keys appears twice
 * or in another case; at most 150 keys and 999 levels of nesting. Anything else (a number where
 * text is expected, a float or zero duration, a byte-order mark, invalid UTF-8, any syntax error)
 * returns null.
 *
 * <p>The limits keep the answers from_json's: from_json reads the line inside a wrapper one level
 * deeper, against Jackson's limit of 1000 levels; Jackson's field-name table refuses a parse that
 * overflows one collision chain (150 names) twice, which depends on the names parsed before; and
 * from_json re-prints an integer -0 as 0, which the ingest tells apart from 0 by looking at the line
 * (events.parse_json_lines), so a zero duration takes that one way whichever reader sees it.
 *
 * <p>Returns (event_id, event_type, user_id, timestamp, page, duration_ms, device), all strings.
 */
public final class FastJsonEvent implements UDF1<String, Row> {
    private static final long serialVersionUID = 1L;
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(999).build())
            .build();
    private static final int MAX_KEYS = 150;
    private static final String[] TOP = {"event_id", "event_type", "user_id", "timestamp"};
    private static final String[] PROPERTIES = {"page", "duration_ms", "device"};
    private static final int DURATION = 5;

    @Override
    public Row call(String line) {
        if (line == null || line.isEmpty() || line.charAt(0) == '\uFEFF' || line.indexOf('\uFFFD') >= 0) {
            return null;
        }
        Reading reading = new Reading();
        try (JsonParser parser = FACTORY.createParser(line)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (reading.nextKey(parser)) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (name.equals("properties")) {
                    if (!reading.properties(parser, value)) {
                        return null;
                    }
                    continue;
                }
                int index = indexOf(TOP, name);
                if (index == -2 || name.equalsIgnoreCase("properties")) {
                    return null;
                }
                if (index < 0) {
                    reading.skip(parser);
                } else if (!reading.string(parser, value, index, false)) {
                    return null;
                }
            }
            if (parser.currentToken() != JsonToken.END_OBJECT || parser.nextToken() != null) {
                return null;
            }
        } catch (Exception unreadable) {
            return null; // from_json says what is wrong with it
        }
        return RowFactory.create((Object[]) reading.fields);
    }

    /** One line's fields, which of them were seen, and how many keys it has had so far. */
    private static final class Reading {
        final String[] fields = new String[TOP.length + PROPERTIES.length];
        final boolean[] seen = new boolean[fields.length + 1]; // the last one: properties
        int keys;

        /** Moves to the next key of the current object; false at its end or past MAX_KEYS. */
        boolean nextKey(JsonParser parser) throws java.io.IOException {
            return parser.nextToken() == JsonToken.FIELD_NAME && ++keys <= MAX_KEYS;
        }

        /** Skips the current value, counting the keys inside it. */
        void skip(JsonParser parser) throws java.io.IOException {
            JsonToken token = parser.currentToken();
            if (token != JsonToken.START_OBJECT && token != JsonToken.START_ARRAY) {
                return;
            }
            int depth = 1;
            while (depth > 0) {
                token = parser.nextToken();
                if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
                    depth++;
                } else if (token == JsonToken.END_OBJECT || token == JsonToken.END_ARRAY) {
                    depth--;
                } else if (token == JsonToken.FIELD_NAME && ++keys > MAX_KEYS) {
                    throw new java.io.IOException("more than " + MAX_KEYS + " keys");
                }
            }
        }

        boolean properties(JsonParser parser, JsonToken value) throws java.io.IOException {
            if (seen[fields.length]) {
                return false;
            }
            seen[fields.length] = true;
            if (value == JsonToken.VALUE_NULL) {
                return true;
            }
            if (value != JsonToken.START_OBJECT) {
                return false;
            }
            while (nextKey(parser)) {
                String name = parser.currentName();
                JsonToken inner = parser.nextToken();
                int index = indexOf(PROPERTIES, name);
                if (index == -2) {
                    return false;
                }
                if (index < 0) {
                    skip(parser);
                } else if (!string(parser, inner, index + TOP.length, index + TOP.length == DURATION)) {
                    return false;
                }
            }
            return parser.currentToken() == JsonToken.END_OBJECT && keys <= MAX_KEYS;
        }

        /** The value as text into fields[index]; false where from_json's reading is not plain. */
        boolean string(JsonParser parser, JsonToken value, int index, boolean integerToo) throws java.io.IOException {
            if (seen[index]) {
                return false;
            }
            seen[index] = true;
            if (value == JsonToken.VALUE_STRING) {
                fields[index] = parser.getText();
                return true;
            }
            if (integerToo && value == JsonToken.VALUE_NUMBER_INT) {
                String text = parser.getText();
                fields[index] = text;
                return !(text.equals("0") || text.equals("-0"));
            }
            return value == JsonToken.VALUE_NULL;
        }
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
