package io.hmm4j.spi;

import java.util.Map;

/**
 * Settings for a backend: {@code hmm4j.<backend>.<key>} system properties, then the heap builder's
 * settings. Values are strings; accessors parse them and name the key on a bad value.
 */
public record BackendConfig(Map<String, String> settings) {

    public BackendConfig {
        settings = Map.copyOf(settings);
    }

    public static BackendConfig empty() {
        return new BackendConfig(Map.of());
    }

    public String get(String key, String fallback) {
        return settings.getOrDefault(key, fallback);
    }

    public long getLong(String key, long fallback) {
        String value = settings.get(key);
        if (value == null)
            return fallback;
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("setting " + key + " is not a number: '" + value + "'", e);
        }
    }

    public int getInt(String key, int fallback) {
        return Math.toIntExact(getLong(key, fallback));
    }

    public boolean getBoolean(String key, boolean fallback) {
        String value = settings.get(key);
        return value == null ? fallback : Boolean.parseBoolean(value.trim());
    }
}
