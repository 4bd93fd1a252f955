// The chaos suite's books: exact lost/duplicate counts, bad records by reason, and both ways of
// counting per-customer order violations, on hand-made arrival orders.

#include "bench/chaos/ledger.h"

#include <gtest/gtest.h>

#include "bench/chaos/probes.h"
#include "tests/harness/emulator.h"

namespace bridge::chaos {
namespace {

// What the emulator stores for a good event: the eventId is copied into the ExperienceEvent.
std::string accepted(const std::string& id) {
  return R"({"header":{},"body":{"xdmEntity":{"_acme":{"capillary":{"eventId":")" + id +
         R"("}}}}})";
}

harness::ConsumedMessage letter(const std::string& key, const std::string& value,
                                const std::string& reason) {
  harness::ConsumedMessage m;
  m.key = key;
  m.value = value;
  m.headers = {{"capillary-bridge.reason", reason}, {"capillary-bridge.source", "t/0/0"}};
  return m;
}

TEST(LedgerTest, InOrderDeliveryIsCleanAndSettled) {
  Ledger ledger;
  for (std::uint32_t s = 0; s < 3; ++s) {
    ledger.add_good("a" + std::to_string(s), 1, s);
    ledger.add_good("b" + std::to_string(s), 2, s);
  }
  for (const char* id : {"a0", "b0", "b1", "a1", "a2", "b2"}) {
    ledger.on_accepted(accepted(id));
  }
  EXPECT_EQ(ledger.settled(), 6U);
  const Outcome o = ledger.outcome();
  EXPECT_EQ(o.accepted_unique, 6U);
  EXPECT_EQ(o.duplicates, 0U);
  EXPECT_EQ(o.lost, 0U);
  EXPECT_EQ(o.order_first_copy, 0U);
  EXPECT_EQ(o.order_last_copy, 0U);
}

TEST(LedgerTest, ARetriedMessageResentAfterALaterOneIsOnlyAFirstCopyViolation) {
  // s1 failed inside a 207, s2 was accepted; the retry resends s1 and then s2 again.
  Ledger ledger;
  for (std::uint32_t s = 0; s < 3; ++s) {
    ledger.add_good("c" + std::to_string(s), 7, s);
  }
  for (const char* id : {"c0", "c2", "c1", "c2"}) {
    ledger.on_accepted(accepted(id));
  }
  const Outcome o = ledger.outcome();
  EXPECT_EQ(o.order_first_copy, 1U);
  EXPECT_EQ(o.order_last_copy, 0U);
  EXPECT_EQ(o.duplicates, 1U);
  EXPECT_EQ(o.accepted_unique, 3U);
}

TEST(LedgerTest, AStaleCopyLandingLastIsALastCopyViolation) {
  // An old owner's in-flight copy of s0 lands after the new owner delivered s1.
  Ledger ledger;
  ledger.add_good("d0", 3, 0);
  ledger.add_good("d1", 3, 1);
  ledger.add_good("e0", 4, 0);
  for (const char* id : {"d0", "d1", "e0", "d0"}) {
    ledger.on_accepted(accepted(id));
  }
  const Outcome o = ledger.outcome();
  EXPECT_EQ(o.order_first_copy, 0U);
  EXPECT_EQ(o.order_last_copy, 1U);
  EXPECT_EQ(o.order_examples,
            (std::vector<std::string>{"customer 3: d0 (#0) arrived at 3 after #1 had"}));
}

TEST(LedgerTest, LostDeadLetteredBothForeignAndMisfiled) {
  Ledger ledger;
  ledger.add_good("g0", 1, 0);
  ledger.add_good("g1", 1, 1);
  ledger.add_good("g2", 1, 2);
  ledger.add_good("g3", 1, 3);
  ledger.add_bad("bad-0", "malformed-json");
  ledger.add_bad("bad-1", "encoding");
  ledger.add_bad("bad-2", "too-large");
  ledger.on_accepted(accepted("g0"));
  ledger.on_accepted(accepted("g1"));
  ledger.on_accepted(accepted("someone-else"));
  ledger.on_dead_letter(letter("cust-1", R"({"eventId":"g1"})", "platform-rejected"));
  ledger.on_dead_letter(letter("cust-1", R"({"eventId":"g2"})", "platform-failed"));
  ledger.on_dead_letter(letter("bad-0", "not json", "malformed-json"));
  ledger.on_dead_letter(letter("bad-1", "\xff", "malformed-json"));
  ledger.on_dead_letter(letter("x", "?", "unmapped"));
  EXPECT_EQ(ledger.records(), 7U);
  EXPECT_EQ(ledger.settled(), 5U);  // g0, g1, g2, bad-0, bad-1
  const Outcome o = ledger.outcome();
  EXPECT_EQ(o.input, 7U);
  EXPECT_EQ(o.good, 4U);
  EXPECT_EQ(o.accepted_unique, 2U);
  EXPECT_EQ(o.foreign, 1U);
  EXPECT_EQ(o.good_dead, 2U);
  EXPECT_EQ(o.both, 1U);
  EXPECT_EQ(o.lost, 2U);  // g3 and bad-2
  EXPECT_EQ(o.bad_missing, 1U);
  EXPECT_EQ(o.bad_misfiled, 1U);
  EXPECT_EQ(o.unknown_dead, 1U);
  EXPECT_EQ(o.dead_letters, 5U);
  EXPECT_EQ(o.dead_by_reason.at("malformed-json"), 2U);
  EXPECT_EQ(o.injected_by_reason.at("too-large"), 1U);
  EXPECT_EQ(o.lost_examples, (std::vector<std::string>{"g3", "bad record bad-2"}));
}

TEST(LedgerTest, TheEventIdIsFoundInWhatTheCatalogueSends) {
  // make_capillary_event's id reaches the emulator as _acme.capillary.eventId; the ledger reads
  // the event's own bytes in a dead letter.
  Ledger ledger;
  ledger.add_good("ev-1", 1, 0);
  ledger.on_dead_letter(letter("cust-1", harness::make_capillary_event("ev-1", 1), "identity"));
  EXPECT_EQ(ledger.outcome().good_dead, 1U);
  EXPECT_THROW(ledger.add_good("ev-1", 1, 1), std::runtime_error);
}

TEST(ExitTallyTest, CountsCodesAndSignals) {
  ExitTally tally;
  EXPECT_EQ(tally.str(), "-");
  tally.add(harness::ExitStatus{.exited = true, .code = 0});
  tally.add(harness::ExitStatus{.signaled = true, .signal = 9});
  tally.add(harness::ExitStatus{.signaled = true, .signal = 9});
  tally.add(harness::ExitStatus{.exited = true, .code = 2});
  EXPECT_EQ(tally.str(), "0:1 2:1 KILL:2");
}

}  // namespace
}  // namespace bridge::chaos
