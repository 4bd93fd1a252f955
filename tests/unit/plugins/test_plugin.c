/*
 * test_plugin.c: plugins that misbehave on purpose, for plugin_test. What apply() does is chosen
 * by the event name (see test_apply). Built three times:
 *   cb_test_plugin       as is
 *   cb_bad_abi_plugin    -DCB_TEST_ABI_VERSION=999
 *   cb_no_entry_plugin   -DCB_TEST_NO_ENTRY (exports its table under another name)
 * Test inputs are plain ASCII, so strings are written into JSON without escaping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transforms/plugin/capillary_bridge_plugin.h"

#ifndef CB_TEST_ABI_VERSION
#define CB_TEST_ABI_VERSION CB_PLUGIN_ABI_VERSION
#endif

typedef struct test_instance {
  char* settings; /* the settings JSON create() was given */
  int id;         /* creation order */
  int calls;      /* apply() calls on this instance */
} test_instance;

/* plugin_test creates and destroys instances from one thread at a time. */
static int created = 0;
static int live = 0;

static void* test_create(const char* settings_json, size_t settings_len, char* err,
                         size_t err_len) {
  test_instance* t;
  if (strstr(settings_json, "\"fail\"") != NULL) {
    snprintf(err, err_len, "setting `fail` makes create() fail");
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    return NULL;
  }
  t->settings = malloc(settings_len + 1);
  if (t->settings == NULL) {
    free(t);
    return NULL;
  }
  memcpy(t->settings, settings_json, settings_len + 1);
  t->id = ++created;
  ++live;
  return t;
}

static int is(cb_str s, const char* text) {
  return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

static int emit_text(const cb_emitter* out, int kind, const char* text) {
  return out->emit(out->ctx, kind, text, strlen(text));
}

/* Every cb_input field, as JSON. */
static int emit_fields(const cb_emitter* out, const cb_input* in) {
  char text[4096];
  snprintf(text, sizeof text,
           "{\"topic\":\"%.*s\",\"partition\":%d,\"offset\":%lld,\"timestamp_ms\":%lld,"
           "\"key\":\"%.*s\",\"event_name\":\"%.*s\",\"event_id\":\"%.*s\",\"org_id\":%lld,"
           "\"has_org_id\":%d,\"created_at_ms\":%lld,\"has_created_at\":%d,"
           "\"payload_len\":%u,\"event_raw_len\":%u,\"data_raw\":%.*s}",
           (int)in->topic.len, in->topic.ptr, (int)in->partition, (long long)in->offset,
           (long long)in->timestamp_ms, (int)in->key.len, in->key.ptr, (int)in->event_name.len,
           in->event_name.ptr, (int)in->event_id.len, in->event_id.ptr, (long long)in->org_id,
           in->has_org_id, (long long)in->created_at_ms, in->has_created_at,
           (unsigned)in->payload.len, (unsigned)in->event_raw.len,
           in->data_raw.len > 0 ? (int)in->data_raw.len : 4,
           in->data_raw.len > 0 ? in->data_raw.ptr : "null");
  return emit_text(out, CB_KIND_RAW, text);
}

static int test_apply(void* instance, const cb_input* in, const cb_emitter* out) {
  test_instance* t = instance;
  char text[128];
  ++t->calls;
  if (is(in->event_name, "echoSettings")) {
    return emit_text(out, CB_KIND_RAW, t->settings);
  }
  if (is(in->event_name, "fields")) {
    return emit_fields(out, in);
  }
  if (is(in->event_name, "count")) {
    snprintf(text, sizeof text, "{\"id\":%d,\"calls\":%d,\"live\":%d}", t->id, t->calls, live);
    return emit_text(out, CB_KIND_RAW, text);
  }
  if (is(in->event_name, "badJson")) {
    return emit_text(out, CB_KIND_RAW, "{\"points\": 12");
  }
  if (is(in->event_name, "twoThenBad")) {
    emit_text(out, CB_KIND_RAW, "{\"n\":1}");
    emit_text(out, CB_KIND_EXPERIENCE_EVENT, "{\"n\":2}");
    if (emit_text(out, CB_KIND_RAW, "not json") != CB_REJECT) {
      return CB_OK;
    }
    /* Ignored: the host already refused an output, and the first reason wins. */
    out->reject(out->ctx, "too-late", "never seen");
    return emit_text(out, CB_KIND_RAW, "{}") == CB_REJECT ? CB_REJECT : CB_OK;
  }
  if (is(in->event_name, "profile")) {
    return emit_text(out, CB_KIND_PROFILE, "{}");
  }
  if (is(in->event_name, "badKind")) {
    return emit_text(out, 42, "{}");
  }
  if (is(in->event_name, "reject")) {
    out->reject(out->ctx, "too-old", "the event is older than the cut-off");
    return CB_REJECT;
  }
  if (is(in->event_name, "rejectBadReason")) {
    out->reject(out->ctx, "Not A Code", NULL);
    return CB_REJECT;
  }
  if (is(in->event_name, "rejectLong")) {
    char message[1024];
    memset(message, 'x', sizeof message - 1);
    message[sizeof message - 1] = '\0';
    out->reject(out->ctx, "long-message", message);
    return CB_OK; /* reject() alone rejects the record */
  }
  if (is(in->event_name, "rejectSilently")) {
    return CB_REJECT;
  }
  if (is(in->event_name, "weirdStatus")) {
    return 7;
  }
  return emit_text(out, CB_KIND_RAW, "{}");
}

static void test_destroy(void* instance) {
  test_instance* t = instance;
  --live;
  free(t->settings);
  free(t);
}

static const cb_plugin test_plugin = {
    CB_TEST_ABI_VERSION, "test", test_create, test_apply, test_destroy,
};

#ifdef CB_TEST_NO_ENTRY
CB_PLUGIN_EXPORT const cb_plugin* not_the_entry(void);
CB_PLUGIN_EXPORT const cb_plugin* not_the_entry(void) {
  return &test_plugin;
}
#else
CB_PLUGIN_EXPORT const cb_plugin* cb_plugin_entry(void) {
  return &test_plugin;
}
#endif
