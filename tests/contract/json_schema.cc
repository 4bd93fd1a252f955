#include "tests/contract/json_schema.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "bridge/xed/valijson_text.h"

namespace tests::contract::detail {
namespace {

bool is_identifier(std::string_view key) {
  if (key.empty() || (std::isdigit(static_cast<unsigned char>(key.front())) != 0)) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

std::string json_text(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

struct Located {
  std::string path;
  const rapidjson::Value* value = nullptr;  // null when the path leads nowhere
};

// valijson's context is {"<root>", "[key]" or "[index]", ...}; the instance tells which.
Located locate(const rapidjson::Value& root, const std::vector<std::string>& context) {
  Located at{"$", &root};
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view token = context[i];
    if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
      token = token.substr(1, token.size() - 2);
    }
    std::size_t index = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
    if (at.value != nullptr && at.value->IsArray() && ec == std::errc() &&
        end == token.data() + token.size()) {
      append_index(at.path, index);
      at.value = index < at.value->Size() ? &(*at.value)[static_cast<rapidjson::SizeType>(index)]
                                          : nullptr;
      continue;
    }
    append_key(at.path, token);
    const rapidjson::Value* next = nullptr;
    if (at.value != nullptr && at.value->IsObject()) {
      const auto member =
          at.value->FindMember(rapidjson::Value(rapidjson::StringRef(token.data(), token.size())));
      if (member != at.value->MemberEnd()) {
        next = &member->value;
      }
    }
    at.value = next;
  }
  return at;
}

std::string render(const rapidjson::Value& root, const valijson::ValidationResults::Error& error) {
  Located at = locate(root, error.context);
  const std::string& description = error.description;
  if (const auto key = bridge::xed::valijson_unknown_property(description)) {
    // Name the unknown field itself in the path.
    Located field = at;
    append_key(field.path, *key);
    return field.path + ": not in the schema (additionalProperties: false)";
  }
  std::string message = at.path + ": " + description;
  if (at.value != nullptr && !at.value->IsObject() && !at.value->IsArray()) {
    std::string text = json_text(*at.value);
    constexpr std::size_t kMaxShown = 80;
    if (text.size() > kMaxShown) {
      text = text.substr(0, kMaxShown) + "...";
    }
    message += " (value: " + text + ")";
  }
  return message;
}

}  // namespace

std::optional<std::string> parse(std::string_view json, rapidjson::Document& out) {
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;
  out.Parse<kFlags>(json.data(), json.size());
  if (!out.HasParseError()) {
    return std::nullopt;
  }
  return std::string("not JSON: ") + rapidjson::GetParseError_En(out.GetParseError()) +
         " at offset " + std::to_string(out.GetErrorOffset());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void append_key(std::string& path, std::string_view key) {
  if (is_identifier(key)) {
    path += '.';
    path += key;
    return;
  }
  path += "[\"";
  for (const char c : key) {
    if (c == '"' || c == '\\') {
      path += '\\';
    }
    path += c;
  }
  path += "\"]";
}

void append_index(std::string& path, std::size_t index) {
  path += '[' + std::to_string(index) + ']';
}

CompiledSchema::CompiledSchema(rapidjson::Document document, const std::string& what)
    : document_(std::move(document)) {
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    const valijson::adapters::RapidJsonAdapter adapter(document_);
    parser.populateSchema(adapter, schema_);
  } catch (const std::exception& e) {
    throw std::runtime_error(what + ": valijson cannot use this schema: " + e.what());
  }
}

std::vector<std::string> CompiledSchema::validate(const rapidjson::Value& instance) const {
  // A Validator caches compiled regexes, so each call gets its own: check() stays const and
  // thread-safe; the schemas have a handful of patterns.
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  const valijson::adapters::RapidJsonAdapter adapter(instance);
  try {
    validator.validate(schema_, adapter, &results);
  } catch (const std::exception& e) {
    return {std::string("$: valijson failed while validating: ") + e.what()};
  }
  std::vector<valijson::ValidationResults::Error> errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    errors.push_back(error);
  }
  const bool all_wrappers = std::all_of(errors.begin(), errors.end(), [](const auto& e) {
    return bridge::xed::is_valijson_wrapper(e.description);
  });
  std::vector<std::string> messages;
  for (const auto& e : errors) {
    if (!all_wrappers && bridge::xed::is_valijson_wrapper(e.description)) {
      continue;
    }
    std::string message = render(instance, e);
    if (std::find(messages.begin(), messages.end(), message) == messages.end()) {
      messages.push_back(std::move(message));
    }
  }
  return messages;
}

}  // namespace tests::contract::detail
