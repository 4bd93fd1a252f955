#pragma once
// Configuration problems collected during startup. Every problem carries file:line:column so one
// run of `capillary-bridge validate` can list them all.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace bridge::core {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem is not tied to a position
  int column = 0;  // 1-based
  std::string message;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file = {}) : file_(std::move(file)) {}

  // Records a problem at the position of `node` (yaml-cpp marks are 0-based; we store 1-based).
  void error(const YAML::Node& node, std::string message);
  void error(const YAML::Mark& mark, std::string message);
  void error(std::string message);

  [[nodiscard]] bool ok() const { return items_.empty(); }
  [[nodiscard]] const std::vector<Diagnostic>& items() const { return items_; }
  [[nodiscard]] const std::string& file() const { return file_; }

  // "file:line:column: message" per line, in the order found.
  [[nodiscard]] std::string to_string() const;

 private:
  std::string file_;
  std::vector<Diagnostic> items_;
};

}  // namespace bridge::core
