/*
 * example_plugin.c: a complete capillary-bridge plugin in plain C, kept short on purpose: it is
 * the documentation by example for transforms/plugin/capillary_bridge_plugin.h.
 *
 * It turns an event into a small XDM ExperienceEvent,
 *   {"_id":"<eventId>","eventType":"<prefix><eventName>","timestamp":"<createdAt>","data":<data>}
 * (`_id` and `timestamp` only when the envelope has them; `data` copied as it came), and rejects
 * an event without a `data` object with reason `plugin-example`.
 *
 * Settings (the route's `settings.settings:`, as JSON): none, {} or {"eventTypePrefix": "..."};
 * the prefix defaults to "capillary.".
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transforms/plugin/capillary_bridge_plugin.h"

#define MAX_PREFIX 64

/* One instance per worker thread, so its fields need no locks. */
typedef struct example {
  char prefix[MAX_PREFIX + 1];
  char* buf; /* the output being built; reused for every record */
  size_t len;
  size_t cap;
  int out_of_memory;
} example;

static void put(example* ex, const char* s, size_t n) {
  if (ex->out_of_memory) {
    return;
  }
  if (ex->len + n > ex->cap) {
    size_t cap = ex->cap > 0 ? ex->cap : 256;
    char* grown;
    while (cap < ex->len + n) {
      cap *= 2;
    }
    grown = realloc(ex->buf, cap);
    if (grown == NULL) {
      ex->out_of_memory = 1;
      return;
    }
    ex->buf = grown;
    ex->cap = cap;
  }
  memcpy(ex->buf + ex->len, s, n);
  ex->len += n;
}

static void put_text(example* ex, const char* s) {
  put(ex, s, strlen(s));
}

/* Writes `s` escaped for use inside a JSON string (the envelope's strings are decoded text). */
static void put_escaped(example* ex, const char* s, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    const unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      put(ex, "\\", 1);
      put(ex, s + i, 1);
    } else if (c < 0x20) {
      char escape[8];
      snprintf(escape, sizeof escape, "\\u%04x", (unsigned)c);
      put(ex, escape, 6);
    } else {
      put(ex, s + i, 1);
    }
  }
}

/* Epoch milliseconds as ISO 8601 UTC, e.g. "2024-05-01T10:00:00.000Z". */
static void put_timestamp(example* ex, int64_t ms) {
  int64_t millis = ms % 1000;
  time_t seconds = (time_t)(ms / 1000);
  struct tm utc;
  char text[64];
  size_t n;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  if (gmtime_r(&seconds, &utc) == NULL) {
    put_text(ex, "null");
    return;
  }
  n = strftime(text, sizeof text, "\"%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + n, sizeof text - n, ".%03dZ\"", (int)millis);
  put_text(ex, text);
}

static const char* skip_space(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
    ++p;
  }
  return p;
}

/* Accepts null, {} or {"eventTypePrefix": "<text without escapes>"}: the smallest parser that
   does the job here. A plugin with real settings would use a JSON library. */
static int read_settings(const char* json, char* prefix) {
  static const char key[] = "\"eventTypePrefix\"";
  const char* p = skip_space(json);
  const char* end;
  strcpy(prefix, "capillary.");
  if (strncmp(p, "null", 4) == 0) {
    return *skip_space(p + 4) == '\0';
  }
  if (*p != '{') {
    return 0;
  }
  p = skip_space(p + 1);
  if (*p == '}') {
    return *skip_space(p + 1) == '\0';
  }
  if (strncmp(p, key, sizeof key - 1) != 0) {
    return 0;
  }
  p = skip_space(p + sizeof key - 1);
  if (*p != ':') {
    return 0;
  }
  p = skip_space(p + 1);
  if (*p != '"') {
    return 0;
  }
  ++p;
  end = strchr(p, '"');
  if (end == NULL || end - p > MAX_PREFIX || memchr(p, '\\', (size_t)(end - p)) != NULL) {
    return 0;
  }
  memcpy(prefix, p, (size_t)(end - p));
  prefix[end - p] = '\0';
  p = skip_space(end + 1);
  return *p == '}' && *skip_space(p + 1) == '\0';
}

static void* example_create(const char* settings_json, size_t settings_len, char* err,
                            size_t err_len) {
  example* ex = calloc(1, sizeof *ex);
  (void)settings_len; /* the host also NUL-terminates the settings */
  if (ex == NULL) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  if (!read_settings(settings_json, ex->prefix)) {
    snprintf(err, err_len,
             "settings must be {\"eventTypePrefix\": \"<at most %d characters, no escapes>\"}",
             MAX_PREFIX);
    free(ex);
    return NULL;
  }
  return ex;
}

static int example_apply(void* instance, const cb_input* in, const cb_emitter* out) {
  example* ex = instance;
  if (in->data_raw.len == 0 || in->data_raw.ptr[0] != '{') {
    out->reject(out->ctx, "plugin-example", "the event has no `data` object");
    return CB_REJECT;
  }
  ex->len = 0;
  ex->out_of_memory = 0;
  put_text(ex, "{");
  if (in->event_id.len > 0) {
    put_text(ex, "\"_id\":\"");
    put_escaped(ex, in->event_id.ptr, in->event_id.len);
    put_text(ex, "\",");
  }
  put_text(ex, "\"eventType\":\"");
  put_escaped(ex, ex->prefix, strlen(ex->prefix));
  put_escaped(ex, in->event_name.ptr, in->event_name.len);
  put_text(ex, "\"");
  if (in->has_created_at) {
    put_text(ex, ",\"timestamp\":");
    put_timestamp(ex, in->created_at_ms);
  }
  put_text(ex, ",\"data\":");
  put(ex, in->data_raw.ptr, in->data_raw.len);
  put_text(ex, "}");
  if (ex->out_of_memory) {
    out->reject(out->ctx, "plugin-example", "out of memory");
    return CB_REJECT;
  }
  /* The host copies the body before emit returns, so ex->buf can be reused at once. */
  return out->emit(out->ctx, CB_KIND_EXPERIENCE_EVENT, ex->buf, ex->len);
}

static void example_destroy(void* instance) {
  example* ex = instance;
  free(ex->buf);
  free(ex);
}

CB_PLUGIN_EXPORT const cb_plugin* cb_plugin_entry(void) {
  static const cb_plugin plugin = {
      CB_PLUGIN_ABI_VERSION, "example", example_create, example_apply, example_destroy,
  };
  return &plugin;
}
