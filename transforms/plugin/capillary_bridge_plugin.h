/*
 * capillary_bridge_plugin.h: the C ABI between capillary-bridge and a transform built as a shared
 * object (a "plugin"). Plain C (C89 with <stdint.h>, C99, C++), no C++ types, no dependencies.
 * A plugin includes this header, fills one cb_plugin table and exports cb_plugin_entry().
 * transforms/plugin/README.md explains how to build one; transforms/plugin/example/ is a
 * complete plugin in C.
 *
 * Versioning. CB_PLUGIN_ABI_VERSION names this exact contract: the layout of every struct
 * below, the callbacks, the status and kind values, and the rules in this comment. Any change to
 * any of them gets a new version; adding a field is a change too. The host refuses, at startup
 * and with an error naming both versions, a plugin whose table reports another abi_version. The
 * entry symbol and the position of `abi_version` (first member of cb_plugin, a uint32_t) never
 * change, so that check works across every version.
 *
 * Threads. create() and destroy() may be called from any thread, possibly concurrently for
 * different instances (make shared static state thread-safe or avoid it). The host creates one
 * instance per worker thread and never calls apply() concurrently on one instance, so an
 * instance's own state needs no locks. At startup the host also calls create() once to validate
 * the settings, then destroys that instance without calling apply() on it.
 *
 * Memory. Everything the host passes (cb_input, the strings it points to, the settings JSON,
 * the cb_emitter) is valid only during the call that received it: copy what you keep. Bodies and
 * strings the plugin passes to the host are copied before the callback returns. Strings in
 * cb_str are NOT NUL-terminated; `ptr` is never NULL (an absent value is an empty string).
 *
 * Errors. Never let a C++ exception (or a longjmp) cross this boundary: catch everything inside
 * create(), apply() and destroy(). Messages (create's error text, reject's message) must not
 * contain personal data: name fields, not values.
 *
 * The library stays loaded until the process exits; it is never dlclose()d.
 */
#ifndef CAPILLARY_BRIDGE_PLUGIN_H
#define CAPILLARY_BRIDGE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CB_PLUGIN_ABI_VERSION 1

/* The one symbol the host looks up (dlsym) in the shared object. */
#define CB_PLUGIN_ENTRY_SYMBOL "cb_plugin_entry"

/* Marks the entry point as exported even when the plugin is built with -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define CB_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CB_PLUGIN_EXPORT
#endif

/*
 * Status returned by cb_plugin.apply and by cb_emitter.emit.
 *   CB_OK      apply: the record is done (0..n outputs emitted). emit: the output was accepted.
 *   CB_REJECT  apply: dead-letter the record. emit: the output was refused; the record will be
 *              rejected.
 */
#define CB_OK 0
#define CB_REJECT 1

/*
 * Output kinds for cb_emitter.emit; each goes to the route's matching `targets:` entry.
 *   CB_KIND_PROFILE           an XDM Individual Profile record   -> targets.profile
 *   CB_KIND_EXPERIENCE_EVENT  an XDM ExperienceEvent             -> targets.experience_event
 *   CB_KIND_RAW               anything else                      -> targets.raw
 */
#define CB_KIND_PROFILE 1
#define CB_KIND_EXPERIENCE_EVENT 2
#define CB_KIND_RAW 3

/* C names for a C ABI. NOLINTBEGIN(readability-identifier-naming) */

/* A read-only string view: `len` bytes at `ptr`, not NUL-terminated, `ptr` never NULL. */
typedef struct cb_str {
  const char* ptr;
  size_t len;
} cb_str;

/* One consumed record and its unwrapped Capillary envelope (whatever variant it came in). */
typedef struct cb_input {
  /* The Kafka record. */
  cb_str payload; /* the whole record value: valid UTF-8 JSON, already checked by the host */
  cb_str topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms; /* Kafka append/create time; 0 when unknown */
  cb_str key;           /* empty when the record has no key */

  /* The envelope. */
  cb_str event_name; /* trimmed, org prefix removed, never empty */
  cb_str event_id;   /* empty when absent */
  int64_t org_id;
  int has_org_id; /* 0 when the envelope carries no usable orgId */
  int64_t created_at_ms;
  int has_created_at; /* 0 when createdAt is absent or ambiguous */
  cb_str event_raw;   /* raw JSON of the object holding eventName */
  cb_str data_raw;    /* raw JSON of `data`; empty when the event has no `data` */
} cb_input;

/*
 * How apply() hands outputs back. Pass `ctx` as the first argument of every callback.
 *
 * emit: `body` (`len` bytes) must be one complete JSON document in UTF-8. The host checks it;
 *   an output that is not valid JSON, an unknown kind, or a kind the route has no target for
 *   is refused: emit returns CB_REJECT and the record is rejected with reason `plugin-output`
 *   (return CB_REJECT from apply then; further emits are ignored). Returns CB_OK otherwise.
 *
 * reject: dead-letters the record with `reason` as its reason code and `message` as the
 *   human-readable text (NUL-terminated; message may be NULL). A reason is 1-64 characters
 *   from [a-z0-9-] and starts with a letter or digit (e.g. "missing-data"); any other reason
 *   is replaced by `plugin-rejected`. Messages are cut at 512 bytes.
 *
 * A record is rejected when apply returns CB_REJECT, or reject() was called, or the host
 * refused an output; the first reason given wins, and every output of a rejected record is
 * dropped (all or nothing). CB_REJECT without a reject() call gives reason `plugin-rejected`.
 */
typedef struct cb_emitter {
  void* ctx;
  int (*emit)(void* ctx, int kind, const char* body, size_t len);
  void (*reject)(void* ctx, const char* reason, const char* message);
} cb_emitter;

typedef struct cb_plugin {
  /* Must be CB_PLUGIN_ABI_VERSION as this header defines it. Always the first member. */
  uint32_t abi_version;

  /* Short name for logs and messages, e.g. "acme-badges". Static storage. */
  const char* name;

  /*
   * Creates one instance from the plugin's settings (the route's `settings.settings:`) as JSON:
   * `settings_len` bytes at `settings_json`, also NUL-terminated; `null` when the route gives
   * none. On bad settings, writes a NUL-terminated message of at most `err_len` bytes
   * (including the NUL) to `err` and returns NULL. A plugin without state returns any non-NULL
   * pointer.
   */
  void* (*create)(const char* settings_json, size_t settings_len, char* err, size_t err_len);

  /* Turns one record into 0..n outputs through `out`. Returns CB_OK or CB_REJECT. */
  int (*apply)(void* instance, const cb_input* input, const cb_emitter* out);

  /* Frees an instance create() returned. */
  void (*destroy)(void* instance);
} cb_plugin;

/* The entry point every plugin exports: returns a pointer to its static table. */
typedef const cb_plugin* (*cb_plugin_entry_fn)(void);
CB_PLUGIN_EXPORT const cb_plugin* cb_plugin_entry(void);

/* NOLINTEND(readability-identifier-naming) */

#ifdef __cplusplus
}
#endif

#endif /* CAPILLARY_BRIDGE_PLUGIN_H */
