#include "bridge/redrive/dry_run.h"

#include <thread>

namespace bridge::redrive {

void DrySink::send(std::span<const sink::Message> messages) {
  for (const auto& m : messages) {
    sent_.push_back(m.ticket);
  }
}

void DrySink::poll(std::vector<sink::Outcome>& out, std::chrono::milliseconds wait) {
  if (sent_.empty()) {
    std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(10)));
    return;
  }
  for (const std::uint64_t ticket : sent_) {
    out.push_back({ticket, sink::Verdict::delivered, {}, {}, {}});
  }
  sent_.clear();
}

void DryWriter::poll(std::vector<deadletter::WriteResult>& out,
                     std::chrono::milliseconds /*wait*/) {
  for (const std::uint64_t ticket : tickets_) {
    out.push_back({ticket, true, false, false, {}});
  }
  tickets_.clear();
}

}  // namespace bridge::redrive
