// PublicXdm: the public adobe/xdm schemas, converted to payload form and bundled per kind.
//
// Three things valijson 1.0 cannot take from the source files as they are:
// 1. Source form names (`xdm:loyalty`, `@id`): property keys and `required` entries are
//    renamed to payload form (`loyalty`, `_id`). Other namespaces (`repo:`, `schema:`) are
//    left alone: they are reached only through fields the bridge never emits (auditable,
//    addresses).
// 2. `https://ns.adobe.com/xdm/common/extensible#/definitions/@context` (in most allOf lists)
//    is a oneOf that only admits JSON-LD keys (`xdm:*`, `@id`, ...). It describes source form,
//    so a payload fails it by construction; every $ref to it becomes the empty schema.
// 3. valijson's fetch-document callback cannot be used: its schema cache keys a fetched
//    node by the referring scope plus the JSON pointer and ignores `$id`, so two documents
//    with the same pointer (every document's root "", or the same definition name) resolve to
//    whichever was parsed first and the other's constraints are silently skipped. Instead every
//    document reachable from the kind's roots is copied under `definitions/<key>` of one bundle
//    document and each $ref (remote `<$id>#<ptr>` or local `#<ptr>`) is rewritten to
//    `#/definitions/<key><ptr>`, which makes every pointer unique.
// On top of that, split() makes valijson report every failing class and field group, not only
// the first, and FieldIndex reports fields the (open) public schemas do not declare.
#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <utility>

#include "tests/contract/contract.h"
#include "tests/contract/json_schema.h"

namespace tests::contract {
namespace {

constexpr std::string_view kExtensible = "https://ns.adobe.com/xdm/common/extensible";
constexpr std::string_view kXdm = "https://ns.adobe.com/xdm/";

// Roots for each kind ($id without the common prefix).
constexpr std::array<std::string_view, 6> kProfileRoots = {
    "context/profile",
    "context/identitymap",
    "mixins/profile/profile-loyalty-details",
    "context/profile-person-details",
    "context/profile-personal-details",
    "common/external-source-system-audit-details",
};
constexpr std::array<std::string_view, 3> kEventRoots = {
    "context/experienceevent",
    "context/experienceevent-commerce",
    "context/experienceevent-loyalty-details",
};

std::span<const std::string_view> roots(Kind kind) {
  return kind == Kind::profile ? std::span<const std::string_view>(kProfileRoots)
                               : std::span<const std::string_view>(kEventRoots);
}

std::string payload_name(std::string_view name) {
  if (name.substr(0, 4) == "xdm:") {
    return std::string(name.substr(4));
  }
  if (name == "@id") {
    return "_id";
  }
  return std::string(name);
}

// A definitions key for a $id: letters and digits kept, everything else '_'.
std::string key_for(std::string_view id) {
  std::string key(id);
  for (char& c : key) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) {
      c = '_';
    }
  }
  return key;
}

struct Source {
  std::filesystem::path file;
  rapidjson::Document document;
};

class Bundler {
 public:
  Bundler(const std::map<std::string, Source>& sources, rapidjson::Document& bundle)
      : sources_(sources), bundle_(bundle), allocator_(bundle.GetAllocator()) {}

  // Copies `id` and everything it references into bundle.definitions; returns its key.
  std::string add(const std::string& id, const std::string& referenced_from) {
    std::string key = key_for(id);
    if (added_.count(id) != 0) {
      return key;
    }
    if (const auto [other, fresh] = keys_.emplace(key, id); !fresh) {
      throw std::runtime_error("public XDM: $ids " + other->second + " and " + id +
                               " map to the same bundle key " + key);
    }
    const auto source = sources_.find(id);
    if (source == sources_.end()) {
      throw std::runtime_error("public XDM: no schema has $id " + id + " (referenced from " +
                               referenced_from + ")");
    }
    added_.insert(id);
    rapidjson::Value copy(source->second.document, allocator_);
    std::vector<std::string> referenced;
    convert(copy, key, referenced);
    bundle_["definitions"].AddMember(rapidjson::Value(key.c_str(), allocator_), copy, allocator_);
    for (const auto& next : referenced) {
      add(next, source->second.file.string());
    }
    return key;
  }

 private:
  // Rewrites one schema node in place: names to payload form, $refs into the bundle.
  void convert(rapidjson::Value& node, const std::string& key, std::vector<std::string>& refs) {
    if (!node.IsObject()) {
      return;
    }
    if (const auto ref = node.FindMember("$ref");
        ref != node.MemberEnd() && ref->value.IsString()) {
      const std::string_view target(ref->value.GetString(), ref->value.GetStringLength());
      const std::size_t hash = target.find('#');
      const std::string uri(target.substr(0, hash));
      const std::string pointer(hash == std::string_view::npos ? "" : target.substr(hash + 1));
      if (uri == kExtensible) {
        node.SetObject();  // JSON-LD @context rule of source form: no meaning in payload form
        return;
      }
      std::string target_key = key;
      if (!uri.empty()) {
        target_key = key_for(uri);
        refs.push_back(uri);
      }
      // Siblings of $ref are ignored by draft-06/07, so the node is just the reference.
      node.SetObject();
      node.AddMember(
          "$ref", rapidjson::Value(("#/definitions/" + target_key + pointer).c_str(), allocator_),
          allocator_);
      return;
    }
    for (auto& member : node.GetObject()) {
      const std::string_view keyword(member.name.GetString(), member.name.GetStringLength());
      rapidjson::Value& value = member.value;
      if (keyword == "properties" && value.IsObject()) {
        for (auto& property : value.GetObject()) {
          const std::string name =
              payload_name({property.name.GetString(), property.name.GetStringLength()});
          property.name.SetString(name.c_str(), static_cast<rapidjson::SizeType>(name.size()),
                                  allocator_);
          convert(property.value, key, refs);
        }
      } else if ((keyword == "patternProperties" || keyword == "definitions") && value.IsObject()) {
        for (auto& entry : value.GetObject()) {
          convert(entry.value, key, refs);
        }
      } else if (keyword == "required" && value.IsArray()) {
        for (auto& name : value.GetArray()) {
          if (name.IsString()) {
            const std::string renamed = payload_name({name.GetString(), name.GetStringLength()});
            name.SetString(renamed.c_str(), static_cast<rapidjson::SizeType>(renamed.size()),
                           allocator_);
          }
        }
      } else if ((keyword == "allOf" || keyword == "anyOf" || keyword == "oneOf" ||
                  keyword == "items") &&
                 value.IsArray()) {
        for (auto& item : value.GetArray()) {
          convert(item, key, refs);
        }
      } else if (keyword == "items" || keyword == "additionalProperties" ||
                 keyword == "additionalItems" || keyword == "not" || keyword == "contains" ||
                 keyword == "propertyNames") {
        convert(value, key, refs);
      }
    }
  }

  const std::map<std::string, Source>& sources_;
  rapidjson::Document& bundle_;
  rapidjson::Document::AllocatorType& allocator_;
  std::set<std::string> added_;
  std::map<std::string, std::string> keys_;  // bundle key -> $id
};

std::map<std::string, Source> load_sources(const std::filesystem::path& dir) {
  std::map<std::string, Source> sources;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view kSuffix = ".schema.json";
    if (!entry.is_regular_file() || name.size() <= kSuffix.size() ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    Source source{entry.path(), rapidjson::Document()};
    if (auto error = detail::parse(detail::read_file(entry.path()), source.document)) {
      throw std::runtime_error("public XDM " + entry.path().string() + ": " + *error);
    }
    const auto id = source.document.IsObject() ? source.document.FindMember("$id")
                                               : source.document.MemberEnd();
    if (!source.document.IsObject() || id == source.document.MemberEnd() || !id->value.IsString()) {
      throw std::runtime_error("public XDM " + entry.path().string() + ": no $id");
    }
    std::string id_text(id->value.GetString(), id->value.GetStringLength());
    const auto [existing, inserted] = sources.emplace(id_text, std::move(source));
    if (!inserted) {
      throw std::runtime_error("public XDM: $id " + id_text + " is in both " +
                               existing->second.file.string() + " and " + entry.path().string());
    }
  }
  return sources;
}

using Schemas = std::vector<std::unique_ptr<const detail::CompiledSchema>>;

// Splits the allOf tree below `ref` (a `#/definitions/...` pointer into the bundle) into the
// schemas that must all hold: each node's own keywords besides allOf, and its allOf branches,
// recursively. valijson stops an allOf at its first failing branch even when collecting
// errors, so validating the leaves one by one reports every class and field group that fails,
// not only the first. Own keywords are copied into `extra` (added to the bundle afterwards:
// adding now could move the nodes being walked).
void split(rapidjson::Document& bundle, const std::string& ref, std::set<std::string>& seen,
           std::vector<std::string>& leaves,
           std::vector<std::pair<std::string, rapidjson::Value>>& extra) {
  if (!seen.insert(ref).second) {
    return;
  }
  rapidjson::Value* node = rapidjson::Pointer(ref.substr(1).c_str()).Get(bundle);
  if (node == nullptr || !node->IsObject()) {
    throw std::runtime_error("public XDM: bundle pointer " + ref + " leads nowhere");
  }
  if (const auto target = node->FindMember("$ref");
      target != node->MemberEnd() && target->value.IsString()) {
    split(bundle, target->value.GetString(), seen, leaves, extra);
    return;
  }
  const auto all_of = node->FindMember("allOf");
  if (all_of == node->MemberEnd() || !all_of->value.IsArray()) {
    leaves.push_back(ref);
    return;
  }
  rapidjson::Value own(rapidjson::kObjectType);
  for (const auto& member : node->GetObject()) {
    const std::string_view keyword(member.name.GetString(), member.name.GetStringLength());
    if (keyword != "allOf" && keyword != "definitions") {
      own.AddMember(rapidjson::Value(member.name, bundle.GetAllocator()),
                    rapidjson::Value(member.value, bundle.GetAllocator()), bundle.GetAllocator());
    }
  }
  if (own.MemberCount() != 0) {
    const std::string key = "own_" + std::to_string(extra.size());
    extra.emplace_back(key, std::move(own));
    leaves.push_back("#/definitions/" + key);
  }
  for (const auto& branch : all_of->value.GetArray()) {
    if (!branch.IsObject() || branch.MemberCount() == 0) {
      continue;  // the emptied extensible @context
    }
    const auto target = branch.FindMember("$ref");
    if (target == branch.MemberEnd() || !target->value.IsString() || branch.MemberCount() != 1) {
      throw std::runtime_error("public XDM: an allOf branch under " + ref +
                               " is not a plain $ref; extend split() for it");
    }
    split(bundle, target->value.GetString(), seen, leaves, extra);
  }
}

// Every field path the public schemas declare for a kind, normalized: `.name` per object key,
// `[]` per array item, `.*` for a map's free keys (identityMap), `.**` below an object whose
// content is free. The public schemas are open (no additionalProperties: false), so valijson
// accepts any field they do not declare; this index is what still catches such a field.
class FieldIndex {
 public:
  FieldIndex(const rapidjson::Document& bundle, const std::vector<std::string>& roots) {
    for (const auto& ref : roots) {
      collect(bundle, resolve(bundle, ref), "", 0);
    }
  }

  void unknown_fields(const rapidjson::Value& instance, std::vector<std::string>& errors) const {
    walk(instance, "", "$", errors);
  }

 private:
  static const rapidjson::Value& resolve(const rapidjson::Document& bundle,
                                         const std::string& ref) {
    const rapidjson::Value* node = rapidjson::Pointer(ref.substr(1).c_str()).Get(bundle);
    if (node == nullptr) {
      throw std::runtime_error("public XDM: bundle pointer " + ref + " leads nowhere");
    }
    return *node;
  }

  void collect(const rapidjson::Document& bundle, const rapidjson::Value& node,
               const std::string& path, int depth) {
    constexpr int kMaxDepth = 64;  // the XDM closure is not recursive; this stops a cycle
    if (depth > kMaxDepth) {
      throw std::runtime_error("public XDM: $ref cycle below " + path);
    }
    if (!node.IsObject()) {
      return;
    }
    if (const auto ref = node.FindMember("$ref");
        ref != node.MemberEnd() && ref->value.IsString()) {
      collect(bundle, resolve(bundle, ref->value.GetString()), path, depth + 1);
      return;
    }
    bool declares = false;
    for (const auto& member : node.GetObject()) {
      const std::string_view keyword(member.name.GetString(), member.name.GetStringLength());
      const rapidjson::Value& value = member.value;
      if ((keyword == "allOf" || keyword == "anyOf" || keyword == "oneOf") && value.IsArray()) {
        declares = true;
        for (const auto& branch : value.GetArray()) {
          collect(bundle, branch, path, depth + 1);
        }
      } else if (keyword == "properties" && value.IsObject()) {
        declares = true;
        for (const auto& property : value.GetObject()) {
          std::string child = path + "." + property.name.GetString();
          paths_.insert(child);
          collect(bundle, property.value, child, depth + 1);
        }
      } else if ((keyword == "additionalProperties" && value.IsObject()) ||
                 (keyword == "patternProperties" && value.IsObject())) {
        declares = true;
        paths_.insert(path + ".*");
        if (keyword == "additionalProperties") {
          collect(bundle, value, path + ".*", depth + 1);
        } else {
          for (const auto& pattern : value.GetObject()) {
            collect(bundle, pattern.value, path + ".*", depth + 1);
          }
        }
      } else if (keyword == "items" && value.IsObject()) {
        collect(bundle, value, path + "[]", depth + 1);
      }
    }
    const auto type = node.FindMember("type");
    if (!declares && type != node.MemberEnd() && type->value.IsString() &&
        std::string_view(type->value.GetString()) == "object") {
      paths_.insert(path + ".**");
    }
  }

  void walk(const rapidjson::Value& value, const std::string& normalized, const std::string& shown,
            std::vector<std::string>& errors) const {
    if (value.IsObject()) {
      if (paths_.count(normalized + ".**") != 0) {
        return;
      }
      for (const auto& member : value.GetObject()) {
        const std::string_view key(member.name.GetString(), member.name.GetStringLength());
        std::string shown_child = shown;
        detail::append_key(shown_child, key);
        std::string child = normalized + "." + std::string(key);
        if (paths_.count(child) == 0) {
          child = normalized + ".*";
        }
        if (paths_.count(child) == 0) {
          errors.push_back(shown_child + ": not defined by the public XDM schemas");
          continue;
        }
        walk(member.value, child, shown_child, errors);
      }
    } else if (value.IsArray()) {
      for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
        std::string shown_item = shown;
        detail::append_index(shown_item, i);
        walk(value[i], normalized + "[]", shown_item, errors);
      }
    }
  }

  std::set<std::string> paths_;
};

struct Checks {
  Schemas schemas;
  std::unique_ptr<const FieldIndex> fields;
};

Checks compile(Kind kind, const std::map<std::string, Source>& sources,
               const std::filesystem::path& dir) {
  rapidjson::Document bundle(rapidjson::kObjectType);
  auto& allocator = bundle.GetAllocator();
  bundle.AddMember("definitions", rapidjson::Value(rapidjson::kObjectType), allocator);
  Bundler bundler(sources, bundle);
  std::vector<std::string> roots_refs;
  for (const std::string_view root : roots(kind)) {
    roots_refs.push_back("#/definitions/" +
                         bundler.add(std::string(kXdm) + std::string(root), dir.string()));
  }
  auto fields = std::make_unique<const FieldIndex>(bundle, roots_refs);
  std::set<std::string> seen;
  std::vector<std::string> leaves;
  std::vector<std::pair<std::string, rapidjson::Value>> extra;
  for (const auto& ref : roots_refs) {
    split(bundle, ref, seen, leaves, extra);
  }
  for (auto& [key, value] : extra) {
    bundle["definitions"].AddMember(rapidjson::Value(key.c_str(), allocator), value, allocator);
  }
  const std::string what = "public XDM " + dir.string() + " (" + std::string(to_string(kind)) + ")";
  Schemas schemas;
  for (const auto& leaf : leaves) {
    rapidjson::Document one(rapidjson::kObjectType);
    auto& a = one.GetAllocator();
    one.AddMember("definitions", rapidjson::Value(bundle["definitions"], a), a);
    rapidjson::Value ref(rapidjson::kObjectType);
    ref.AddMember("$ref", rapidjson::Value(leaf.c_str(), a), a);
    rapidjson::Value all_of(rapidjson::kArrayType);
    all_of.PushBack(ref, a);
    one.AddMember("allOf", all_of, a);
    std::string name = what;
    name.append(" ").append(leaf);
    schemas.push_back(std::make_unique<const detail::CompiledSchema>(std::move(one), name));
  }
  return {std::move(schemas), std::move(fields)};
}

}  // namespace

struct PublicXdm::Impl {
  Checks profile;
  Checks experience_event;
};

PublicXdm::PublicXdm(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
PublicXdm::~PublicXdm() = default;
PublicXdm::PublicXdm(PublicXdm&&) noexcept = default;
PublicXdm& PublicXdm::operator=(PublicXdm&&) noexcept = default;

std::optional<PublicXdm> PublicXdm::load_if_present(const std::filesystem::path& shared_xdm_dir) {
  if (!std::filesystem::is_directory(shared_xdm_dir / "components")) {
    return std::nullopt;
  }
  const auto sources = load_sources(shared_xdm_dir);
  auto impl = std::make_unique<Impl>();
  impl->profile = compile(Kind::profile, sources, shared_xdm_dir);
  impl->experience_event = compile(Kind::experience_event, sources, shared_xdm_dir);
  return PublicXdm(std::move(impl));
}

std::vector<std::string> PublicXdm::check(Kind kind, std::string_view json) const {
  rapidjson::Document document;
  if (auto error = detail::parse(json, document)) {
    return {"$: " + *error};
  }
  if (document.IsObject()) {
    for (auto member = document.MemberBegin(); member != document.MemberEnd();) {
      const std::string_view key(member->name.GetString(), member->name.GetStringLength());
      if (key.size() > 1 && key.front() == '_' && key != "_id") {
        member = document.EraseMember(member);  // tenant object: not in the public schemas
      } else {
        ++member;
      }
    }
  }
  const Checks& checks = kind == Kind::profile ? impl_->profile : impl_->experience_event;
  std::vector<std::string> errors;
  for (const auto& schema : checks.schemas) {
    for (auto& e : schema->validate(document)) {
      if (std::find(errors.begin(), errors.end(), e) == errors.end()) {
        errors.push_back(std::move(e));
      }
    }
  }
  checks.fields->unknown_fields(document, errors);
  return errors;
}

}  // namespace tests::contract
