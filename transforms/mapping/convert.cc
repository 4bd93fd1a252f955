#include "transforms/mapping/convert.h"

#include <array>
#include <charconv>
#include <utility>

#include "transforms/xdm/identity.h"

namespace transforms::mapping {
namespace {

constexpr std::array<std::pair<std::string_view, Type>, 13> kTypes = {{
    {"auto", Type::automatic},
    {"string", Type::string},
    {"trim", Type::trim},
    {"lower", Type::lower},
    {"upper", Type::upper},
    {"integer", Type::integer},
    {"number", Type::number},
    {"boolean", Type::boolean},
    {"date-time", Type::date_time},
    {"date-end-of-day", Type::date_end_of_day},
    {"phone-e164", Type::phone},
    {"email", Type::email},
    {"id", Type::id},
}};

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool is_text(const Value& v) {
  return v.kind == JsonKind::string || v.kind == JsonKind::number;
}

}  // namespace

bool is_blank(const Value& v) {
  return v.kind == JsonKind::absent || v.kind == JsonKind::null ||
         (v.kind == JsonKind::string && values::trim(v.text).empty());
}

std::string_view type_name(Type type) {
  for (const auto& [name, t] : kTypes) {
    if (t == type) {
      return name;
    }
  }
  return "?";
}

bool parse_type(std::string_view name, Type& out) {
  for (const auto& [n, t] : kTypes) {
    if (n == name) {
      out = t;
      return true;
    }
  }
  return false;
}

std::string_view expected(Type type) {
  switch (type) {
    case Type::automatic:
      return "a string, a number or a boolean";
    case Type::integer:
    case Type::number:
      return "a number or a numeric string";
    case Type::boolean:
      return "a boolean";
    case Type::date_time:
    case Type::date_end_of_day:
      return "a time (epoch number or date string)";
    default:
      return "a string";
  }
}

SchemaType schema_type(Type type) {
  switch (type) {
    case Type::automatic:
      return {};
    case Type::integer:
      return {"integer", ""};
    case Type::number:
      return {"number", ""};
    case Type::boolean:
      return {"boolean", ""};
    case Type::date_time:
    case Type::date_end_of_day:
      return {"string", "date-time"};
    default:
      return {"string", ""};
  }
}

bool Converter::number_text(std::string_view t, Converted& out) {
  out.tag = Converted::Tag::number;
  if (values::is_json_number(t) && t.size() <= 20 &&
      t.find_first_of("eE") == std::string_view::npos) {
    // Plain decimals keep their exact text (`89000.0` stays). Exponent forms and very long
    // numbers are rewritten from the double below: `0e400` and `1e400` are JSON, but strict
    // parsers (and Platform) refuse them.
    out.text = t;
    return true;
  }
  const auto d = values::to_double(t.substr(!t.empty() && t[0] == '+'));
  if (!d) {
    return false;
  }
  const auto r = std::to_chars(text_, text_ + sizeof(text_), *d);
  out.text = std::string_view(text_, static_cast<std::size_t>(r.ptr - text_));
  return true;
}

Status Converter::convert(const Value& v, Type type, int offset_minutes,
                          std::string_view phone_code, Converted& out) {
  out = Converted{};
  switch (type) {
    case Type::automatic:
      if (v.kind == JsonKind::boolean) {
        out.tag = Converted::Tag::boolean;
        out.truth = v.truth;
        return Status::ok;
      }
      if (v.kind == JsonKind::number) {
        // The same rules as `number`: a JSON number outside a double's range (`1e400`) is valid
        // JSON, but strict parsers (and Platform) refuse it.
        return number_text(v.text, out) ? Status::ok : Status::not_number;
      }
      if (v.kind != JsonKind::string) {
        return Status::wrong_kind;
      }
      out.text = v.text;
      return Status::ok;

    case Type::string:
    case Type::trim:
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      out.text = type == Type::trim ? values::trim(v.text) : v.text;
      return Status::ok;

    case Type::lower:
    case Type::upper: {
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      const std::string_view t = values::trim(v.text);
      buf_.assign(t);
      for (char& c : buf_) {
        c = type == Type::lower ? ascii_lower(c) : ascii_upper(c);
      }
      out.text = buf_;
      return Status::ok;
    }

    case Type::id: {
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      const std::string_view t = values::trim(v.text);
      // Integers keep their exact digits (`2649.0` → "2649"), never through a double.
      out.text = xdm::normalize_customer_id(t, buf_) ? std::string_view(buf_) : t;
      return Status::ok;
    }

    case Type::integer:
    case Type::number: {
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      const std::string_view t = values::trim(v.text);
      if (type == Type::integer) {
        const auto i = values::is_json_number(t) ? values::to_integer(t)
                                                 : values::to_integer(t.substr(t[0] == '+'));
        if (!i) {
          return values::to_double(t) ? Status::not_integer : Status::not_number;
        }
        out.tag = Converted::Tag::integer;
        out.integer = *i;
        return Status::ok;
      }
      return number_text(t, out) ? Status::ok : Status::not_number;
    }

    case Type::boolean:
      out.tag = Converted::Tag::boolean;
      if (v.kind == JsonKind::boolean) {
        out.truth = v.truth;
        return Status::ok;
      }
      if (v.kind == JsonKind::string) {
        const std::string_view t = values::trim(v.text);
        if (iequals(t, "true") || iequals(t, "false")) {
          out.truth = iequals(t, "true");
          return Status::ok;
        }
        return Status::not_boolean;
      }
      return v.kind == JsonKind::number ? Status::not_boolean : Status::wrong_kind;

    case Type::date_time:
    case Type::date_end_of_day: {
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      const std::string_view t = values::trim(v.text);
      std::size_t n = 0;
      if (type == Type::date_end_of_day) {
        if (const auto date = values::parse_date(t)) {
          n = values::format_end_of_day(*date, offset_minutes, text_);
        }
      } else if (values::is_json_number(t)) {
        if (const auto ms = values::epoch_ms_from_number(t)) {
          n = values::format_utc_ms(*ms, text_);
        }
      } else if (const auto date = values::parse_date(t)) {
        n = values::format_end_of_day(*date, offset_minutes, text_);
      } else if (const auto instant = values::parse_iso_instant(t)) {
        n = values::format_instant(*instant, text_);
      }
      if (n == 0) {
        return Status::unparseable_time;
      }
      out.text = std::string_view(text_, n);
      return Status::ok;
    }

    case Type::phone:
    case Type::email: {
      if (!is_text(v)) {
        return Status::wrong_kind;
      }
      const std::string_view t = values::trim(v.text);
      if (type == Type::phone) {
        const xdm::PhoneCheck check = xdm::normalize_phone(t, phone_code, buf_);
        if (check == xdm::PhoneCheck::not_e164) {
          return Status::phone_not_e164;
        }
        if (check == xdm::PhoneCheck::invalid) {
          return xdm::looks_hashed(t) ? Status::hashed : Status::invalid_phone;
        }
      } else if (!xdm::normalize_email(t, buf_)) {
        return xdm::looks_hashed(t) ? Status::hashed : Status::invalid_email;
      }
      out.text = buf_;
      return Status::ok;
    }
  }
  return Status::wrong_kind;
}

}  // namespace transforms::mapping
