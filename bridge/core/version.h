#pragma once

#include <string_view>

namespace bridge::core {

// Set by CMake from project(VERSION); shown in logs, dead-letter headers and build_info.
std::string_view version();
std::string_view git_revision();

}  // namespace bridge::core
