#pragma once
// Files compiled into the binary (cmake/embed.cmake): `dev` needs no files at run time.

#include <string_view>

namespace bridge::app::embedded {

std::string_view dev_config();         // config/dev.yaml
std::string_view sample_events();      // config/samples/capillary-events.jsonl
std::string_view malformed_samples();  // config/samples/malformed.jsonl

}  // namespace bridge::app::embedded
