#include "transforms/xdm/identity.h"

#include <fmt/format.h>

#include <algorithm>

#include "transforms/api/values.h"

namespace transforms::xdm {
namespace {

bool is_hex(char c) {
  return values::is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void write_item(Writer& w, std::string_view id, bool primary) {
  w.begin_object();
  w.string("id", id);
  w.string("authenticatedState", primary ? "authenticated" : "ambiguous");
  w.boolean("primary", primary);
  w.end_object();
}

void write_single(Writer& w, std::string_view ns, std::string_view id) {
  if (id.empty()) {
    return;
  }
  w.begin_array(ns);
  write_item(w, id, false);
  w.end_array();
}

}  // namespace

bool looks_hashed(std::string_view value) {
  value = values::trim(value);
  return (value.size() == 32 || value.size() == 64) &&
         std::all_of(value.begin(), value.end(), is_hex);
}

bool normalize_email(std::string_view value, std::string& out) {
  out.clear();
  value = values::trim(value);
  const std::size_t at = value.find('@');
  if (value.empty() || looks_hashed(value) || at == std::string_view::npos || at == 0 ||
      value.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = value.substr(at + 1);
  const std::size_t dot = domain.find('.');
  if (dot == std::string_view::npos || dot == 0 || domain.back() == '.') {
    return false;
  }
  for (const char c : value) {
    if (values::is_space(c) || static_cast<unsigned char>(c) < 0x20) {
      out.clear();
      return false;
    }
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return true;
}

PhoneCheck normalize_phone(std::string_view value, std::string_view country_code,
                           std::string& out) {
  out.clear();
  value = values::trim(value);
  if (value.empty() || looks_hashed(value)) {
    return PhoneCheck::invalid;
  }
  // International form: a leading `+` or `00` (the `00` dropped).
  bool international = false;
  if (value.front() == '+') {
    international = true;
    value.remove_prefix(1);
  } else if (value.starts_with("00")) {
    international = true;
    value.remove_prefix(2);
  }
  out.push_back('+');
  for (const char c : value) {
    if (values::is_digit(c)) {
      out.push_back(c);
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/') {
      // Letters and the like: not a phone number at all (an extension would add digits).
      out.clear();
      return PhoneCheck::invalid;
    }
  }
  const std::string_view digits = std::string_view(out).substr(1);
  if (digits.empty()) {
    out.clear();
    return PhoneCheck::invalid;
  }
  const auto e164 = [&out](std::size_t min) {
    const std::size_t n = out.size() - 1;
    // No country calling code starts with 0: `+0…` would be a national number in disguise.
    if (n < min || n > 15 || out[1] == '0') {
      out.clear();
      return PhoneCheck::not_e164;
    }
    return PhoneCheck::ok;
  };
  if (international) {
    return e164(8);
  }
  if (country_code.empty()) {
    return e164(11);
  }
  // A national number with the org's calling code: one trunk `0` goes; digits that already
  // start with the code stand as they are when long enough, else the code goes in front.
  if (digits.starts_with('0')) {
    out.erase(1, 1);
  }
  const std::size_t n = out.size() - 1;
  if (!(std::string_view(out).substr(1).starts_with(country_code) && n >= 11 && n <= 15)) {
    out.insert(1, country_code);
  }
  return e164(11);
}

std::string_view phone_warning(PhoneCheck check, std::string_view value) {
  switch (check) {
    case PhoneCheck::ok:
      return {};
    case PhoneCheck::not_e164:
      return "phone-not-e164";
    case PhoneCheck::invalid:
      break;
  }
  return looks_hashed(value) ? "identity-hashed" : "identity-invalid-phone";
}

bool normalize_customer_id(std::string_view value, std::string& out) {
  out.clear();
  value = values::trim(value);
  std::size_t end = value.size();
  if (const std::size_t dot = value.find('.'); dot != std::string_view::npos) {
    // `379499720.0`: an integer rendered as a double; any non-zero fraction is not an id.
    for (std::size_t i = dot + 1; i < value.size(); ++i) {
      if (value[i] != '0') {
        return false;
      }
    }
    end = dot;
  }
  const std::string_view digits = value.substr(0, end);
  if (digits.empty() || digits.size() > 20 ||
      !std::all_of(digits.begin(), digits.end(), values::is_digit)) {
    return false;
  }
  std::size_t first = 0;
  while (first + 1 < digits.size() && digits[first] == '0') {
    ++first;
  }
  if (digits.substr(first) == "0") {
    return false;
  }
  out.assign(digits.substr(first));
  return true;
}

void Identities::clear() {
  customer_id.clear();
  email.clear();
  phone.clear();
  external_id.clear();
  card_count = 0;
}

void Identities::add_card(std::string_view value) {
  value = values::trim(value);
  if (value.empty()) {
    return;
  }
  for (std::size_t i = 0; i < card_count; ++i) {
    if (cards[i] == value) {
      return;
    }
  }
  if (card_count == cards.size()) {
    cards.emplace_back();
  }
  cards[card_count++].assign(value);
}

void format_customer_id(const OutputSettings& settings, std::int64_t org_id,
                        std::string_view customer_id, std::string& out) {
  out.clear();
  if (settings.customer_id_format == CustomerIdFormat::org_and_customer_id) {
    fmt::format_to(std::back_inserter(out), "{}:", org_id);
  }
  out.append(customer_id);
}

void write_identity_map(Writer& w, const OutputSettings& settings, std::int64_t org_id,
                        const Identities& ids) {
  thread_local std::string primary;
  format_customer_id(settings, org_id, ids.customer_id, primary);
  const IdentityNamespaces& ns = settings.namespaces;
  w.begin_object("identityMap");
  w.begin_array(ns.customer_id);
  write_item(w, primary, true);
  w.end_array();
  write_single(w, ns.email, ids.email);
  write_single(w, ns.phone, ids.phone);
  write_single(w, ns.external_id, ids.external_id);
  if (ids.card_count > 0) {
    w.begin_array(ns.card_number);
    for (std::size_t i = 0; i < ids.card_count; ++i) {
      write_item(w, ids.cards[i], false);
    }
    w.end_array();
  }
  w.end_object();
}

}  // namespace transforms::xdm
