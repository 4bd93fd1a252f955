#include "bridge/platform/sink.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "bridge/platform/token.h"
#include "bridge/platform/worker.h"

namespace bridge::platform {
namespace {

using std::chrono::milliseconds;

}  // namespace

core::Result<std::unique_ptr<PlatformSink>> PlatformSink::create(
    const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics, Framer framer) {
  if (cfg.inlets.empty()) {
    return core::fail(core::ErrorKind::fatal, "sink-config", "the platform sink has no inlet");
  }
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    return core::fail(core::ErrorKind::fatal, "sink-init", curl_easy_strerror(global));
  }
  return std::unique_ptr<PlatformSink>(new PlatformSink(cfg, metrics, std::move(framer)));
}

PlatformSink::PlatformSink(const config::PlatformSinkConfig& cfg, metrics::Metrics& metrics,
                           Framer framer)
    : cfg_(cfg), metrics_(metrics.platform), framer_(std::move(framer)) {
  const bool any_auth = std::any_of(cfg_.inlets.begin(), cfg_.inlets.end(),
                                    [](const config::PlatformInlet& i) { return i.authenticated; });
  if (any_auth) {
    tokens_ = std::make_unique<TokenSource>(cfg_.ims, cfg_, metrics_);
  }
  worker_ = std::make_unique<Worker>(cfg_, metrics_, tokens_.get());
}

PlatformSink::~PlatformSink() = default;

std::uint32_t PlatformSink::partition_id(std::string_view topic, std::int32_t partition) {
  if (partition == last_partition_ && topic == last_topic_) {
    return last_partition_id_;
  }
  const auto key = std::make_pair(std::string(topic), partition);
  auto it = partition_ids_.find(key);
  if (it == partition_ids_.end()) {
    it = partition_ids_.emplace(key, static_cast<std::uint32_t>(partition_ids_.size())).first;
  }
  last_topic_.assign(topic);
  last_partition_ = partition;
  last_partition_id_ = it->second;
  return it->second;
}

const PlatformSink::TargetInfo& PlatformSink::target_info(const transforms::Target* target) {
  if (auto it = targets_.find(target); it != targets_.end()) {
    return it->second;
  }
  // Config validation guarantees a match for declared targets; anything else takes the inlet
  // named "default", else the first.
  TargetInfo info;
  // Both arms string_views: `? "default" : target->inlet` would be a temporary std::string.
  const std::string_view want =
      target->inlet.empty() ? std::string_view("default") : std::string_view(target->inlet);
  for (std::uint32_t i = 0; i < cfg_.inlets.size(); ++i) {
    if (cfg_.inlets[i].name == want) {
      info.inlet = i;
      break;
    }
  }
  info.framing = framer_(*target);
  return targets_.emplace(target, std::move(info)).first->second;
}

void PlatformSink::send(std::span<const sink::Message> messages) {
  items_.clear();
  const auto now = Clock::now();
  const std::size_t limit = static_cast<std::size_t>(cfg_.max_request_bytes) - kRequestFraming;
  for (const auto& m : messages) {
    const TargetInfo& target = target_info(m.target);
    const Framing& framing = target.framing;
    const std::size_t size = framing.prefix.size() + m.body.size() + framing.suffix.size();
    if (size > limit) {
      metrics_.messages.Add({{"inlet", cfg_.inlets[target.inlet].name}, {"outcome", "too_large"}})
          .Increment();
      worker_->answer_now({m.ticket, sink::Verdict::rejected, "platform-too-large",
                           fmt::format("the streaming message is {} bytes; a Platform request "
                                       "holds at most {} (sink.platform.batch.max_bytes)",
                                       size, cfg_.max_request_bytes),
                           milliseconds(0)});
      continue;
    }
    // The ordering key, within its partition; 0 stands for the partition itself.
    std::uint64_t order_key = 0;
    if (!m.order_key.empty()) {
      order_key = std::hash<std::string_view>{}(m.order_key);
      order_key += order_key == 0 ? 1 : 0;
    }
    Item& item = items_.emplace_back();
    item.ticket = m.ticket;
    // The one copy this sink makes of a message (the pipeline's body is only lent for send()).
    item.message.reserve(size);
    item.message.append(framing.prefix).append(m.body).append(framing.suffix);
    item.partition = partition_id(m.source_topic, m.source_partition);
    item.offset = m.source_offset;
    item.epoch = m.epoch;
    item.order_key = order_key;
    item.inlet = target.inlet;
    item.enqueued = now;
    worker_->hold(item.message.size());
  }
  worker_->add_outstanding(items_.size());
  worker_->submit(items_);
}

void PlatformSink::poll(std::vector<sink::Outcome>& out, milliseconds wait) {
  worker_->collect(out, wait);
}

bool PlatformSink::flush(milliseconds deadline) {
  return worker_->flush(deadline);
}

bool PlatformSink::release(std::span<const sink::PartitionRef> partitions, milliseconds deadline) {
  std::vector<std::uint32_t> ids;
  for (const auto& p : partitions) {
    if (auto it = partition_ids_.find(std::make_pair(std::string(p.topic), p.partition));
        it != partition_ids_.end()) {
      ids.push_back(it->second);
    }
  }
  if (ids.empty()) {
    return true;  // nothing of theirs was ever sent here
  }
  return worker_->release(std::move(ids), deadline);
}

std::int64_t PlatformSink::held_bytes() const {
  return worker_->held_bytes();
}

bool PlatformSink::ready() const {
  if (!worker_->reachable()) {
    return false;
  }
  return !tokens_ || tokens_->current().header != nullptr;
}

}  // namespace bridge::platform
