#include "bridge/emulator/ingest.h"

#include <fmt/format.h>

namespace bridge::emulator {
namespace {

// Platform's own wording where the reference quotes it; the rest follows the same pattern.
constexpr std::string_view kHeaderMandatory =
    "The 'header' field is mandatory. Provide a valid 'header' value and try again.";
constexpr std::string_view kUnknownFormat = "Message has unknown xdm format";
constexpr std::string_view kSchemaRefMandatory =
    "The 'header.schemaRef.id' field is mandatory. Provide a valid 'header.schemaRef.id' value "
    "and try again.";
constexpr std::string_view kDatasetMandatory =
    "The 'header.datasetId' field is mandatory. Provide a valid 'header.datasetId' value and "
    "try again.";
constexpr std::string_view kWrongOrg = "Message has an absent or wrong ims org in the header";

core::Result<void> not_json(simdjson::error_code error) {
  return core::fail(
      core::ErrorKind::permanent, "not-json",
      fmt::format("request body is not valid JSON: {}", simdjson::error_message(error)));
}

core::Result<void> not_batch(std::string_view why) {
  return core::fail(core::ErrorKind::permanent, "not-batch",
                    fmt::format("request body must be {{\"messages\":[...]}}: {}", why));
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

void append_pointer_token(std::string& path, std::string_view key) {
  path.push_back('/');
  for (const char c : key) {
    if (c == '~') {
      path += "~0";
    } else if (c == '/') {
      path += "~1";
    } else {
      path.push_back(c);
    }
  }
}

// Platform rejects null and empty values anywhere in the record ("omit the key instead"). On true,
// `path` is the JSON pointer of the first offender.
bool find_null_or_empty(simdjson::dom::element e, std::string& path) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return true;
    case element_type::STRING:
      return e.get_string().value_unsafe().empty();
    case element_type::OBJECT: {
      const simdjson::dom::object object = e.get_object().value_unsafe();
      if (object.begin() == object.end()) {
        return true;
      }
      for (const auto field : object) {
        const std::size_t mark = path.size();
        append_pointer_token(path, field.key);
        if (find_null_or_empty(field.value, path)) {
          return true;
        }
        path.resize(mark);
      }
      return false;
    }
    case element_type::ARRAY: {
      const simdjson::dom::array array = e.get_array().value_unsafe();
      if (array.begin() == array.end()) {
        return true;
      }
      std::size_t index = 0;
      for (const simdjson::dom::element child : array) {
        const std::size_t mark = path.size();
        fmt::format_to(std::back_inserter(path), "/{}", index++);
        if (find_null_or_empty(child, path)) {
          return true;
        }
        path.resize(mark);
      }
      return false;
    }
    default:
      return false;
  }
}

bool non_empty_string(simdjson::simdjson_result<simdjson::dom::element> e) {
  std::string_view s;
  return !e.get_string().get(s) && !s.empty();
}

}  // namespace

core::Result<void> Ingest::read_batch(const char* data, std::size_t size,
                                      std::string_view ims_org) {
  messages_.clear();
  ids_.clear();
  simdjson::ondemand::document doc;
  if (const auto error =
          batch_parser_.iterate(data, size, size + simdjson::SIMDJSON_PADDING).get(doc)) {
    return not_json(error);
  }
  simdjson::ondemand::object root;
  if (const auto error = doc.get_object().get(root)) {
    return error == simdjson::INCORRECT_TYPE ? not_batch("the body is not an object")
                                             : not_json(error);
  }
  // The messages are only located here (ondemand, one pass); each is then parsed on its own so
  // its exact bytes can be stored.
  bool seen = false;
  for (auto field : root) {
    std::string_view key;
    if (const auto error = field.unescaped_key().get(key)) {
      return not_json(error);
    }
    if (key != "messages") {
      continue;
    }
    if (seen) {
      return not_batch("'messages' appears twice");
    }
    seen = true;
    simdjson::ondemand::array array;
    if (const auto error = field.value().get_array().get(array)) {
      return error == simdjson::INCORRECT_TYPE ? not_batch("'messages' is not an array")
                                               : not_json(error);
    }
    for (auto element : array) {
      simdjson::ondemand::value value;
      if (const auto error = element.get(value)) {
        return not_json(error);
      }
      simdjson::ondemand::object message;
      CheckedMessage& out = messages_.emplace_back();
      if (const auto error = value.get_object().get(message)) {
        if (error != simdjson::INCORRECT_TYPE) {
          return not_json(error);
        }
        // Not an object: the array iterator skips it on the next step.
        out.status = 400;
        out.reason = kUnknownFormat;
        continue;
      }
      std::string_view raw;
      if (const auto error = message.raw_json().get(raw)) {
        return not_json(error);
      }
      // raw_json() runs up to the next token, so it carries the whitespace before the comma.
      out.json = trim(raw);
    }
  }
  if (!seen) {
    return not_batch("there is no 'messages' field");
  }
  // At the end of the document current_location() reports OUT_OF_BOUNDS; anything else is
  // trailing content after the top-level object.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return not_json(simdjson::TRAILING_CONTENT);
  }
  for (CheckedMessage& m : messages_) {
    if (m.status == 0) {
      if (auto checked = check(m.json, ims_org, m); !checked) {
        return checked;
      }
    }
  }
  return {};
}

core::Result<void> Ingest::read_single(const char* data, std::size_t size,
                                       std::string_view ims_org) {
  messages_.clear();
  ids_.clear();
  CheckedMessage& out = messages_.emplace_back();
  out.json = trim({data, size});
  return check(out.json, ims_org, out);
}

core::Result<void> Ingest::check(std::string_view json, std::string_view ims_org,
                                 CheckedMessage& out) {
  // The bytes after `json` are the rest of the padded body, so no copy is needed.
  simdjson::dom::element message;
  if (const auto error = message_parser_.parse(json.data(), json.size(), false).get(message)) {
    return not_json(error);
  }
  const auto reject = [&out](std::string_view reason) {
    out.status = 400;
    out.reason = reason;
    return core::Result<void>{};
  };
  if (!message.is_object()) {
    return reject(kUnknownFormat);
  }
  simdjson::dom::object header;
  if (message["header"].get_object().get(header)) {
    return reject(kHeaderMandatory);
  }
  simdjson::dom::element entity;
  if (message["body"]["xdmEntity"].get(entity) || !entity.is_object()) {
    return reject(kUnknownFormat);
  }
  if (!non_empty_string(header["schemaRef"]["id"])) {
    return reject(kSchemaRefMandatory);
  }
  if (!non_empty_string(header["datasetId"])) {
    return reject(kDatasetMandatory);
  }
  if (!ims_org.empty()) {
    const auto org = header["imsOrgId"];
    std::string_view value;
    if (org.error() != simdjson::NO_SUCH_FIELD &&
        (org.get_string().get(value) || value != ims_org)) {
      return reject(kWrongOrg);
    }
  }
  path_.assign("/body/xdmEntity");
  if (find_null_or_empty(entity, path_)) {
    out.status = 400;
    out.reason = fmt::format("Message has a null or empty value at {}", path_);
    return {};
  }
  const auto keep = [this](std::string_view text, std::uint32_t& offset, std::uint32_t& length) {
    offset = static_cast<std::uint32_t>(ids_.size());
    length = static_cast<std::uint32_t>(text.size());
    ids_.append(text);
  };
  std::string_view dataset;
  std::string_view schema;
  if (!header["datasetId"].get_string().get(dataset) &&
      !header["schemaRef"]["id"].get_string().get(schema)) {
    keep(dataset, out.dataset_offset, out.dataset_length);
    keep(schema, out.schema_offset, out.schema_length);
  }
  std::string_view id;
  if (!entity["_id"].get_string().get(id)) {
    out.has_id = true;
    out.id_offset = static_cast<std::uint32_t>(ids_.size());
    out.id_length = static_cast<std::uint32_t>(id.size());
    ids_.append(id);
  }
  return {};
}

}  // namespace bridge::emulator
