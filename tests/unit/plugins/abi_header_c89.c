/* Compiled as strict C89 (and C99 by the plugins) so capillary_bridge_plugin.h stays plain C. */
#include "transforms/plugin/capillary_bridge_plugin.h"

size_t cb_header_check(const cb_input* in, const cb_emitter* out, const cb_plugin* plugin);

size_t cb_header_check(const cb_input* in, const cb_emitter* out, const cb_plugin* plugin) {
  return in->payload.len + (out->ctx != NULL ? 1u : 0u) + plugin->abi_version;
}
