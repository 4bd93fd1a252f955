// `capillary-bridge transform -c FILE [INPUT.jsonl]`: the configured routes over events read
// from a file or stdin, without Kafka or a sink. One Platform streaming message per output on
// stdout; one JSON line per rejected event on stderr. For golden tests and mapping authors.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "bridge/app/app.h"
#include "bridge/app/components.h"
#include "transforms/api/router.h"
#include "transforms/xdm/message.h"
#include "transforms/xdm/writer.h"

namespace bridge::app {
namespace {

// Prints each output as it is emitted; raw outputs (passthrough) are printed as they are.
class PrintingEmitter final : public transforms::Emitter {
 public:
  // The header fields the platform sink would send (sink.platform.ims_org_id, source_name).
  PrintingEmitter(std::string& out, transforms::xdm::MessageContext context)
      : out_(out), context_(context) {}

  void set_payload(std::string_view payload) { payload_ = payload; }

  void emit(transforms::OutputKind kind, const transforms::Target& target,
            std::string_view body) override {
    if (kind == transforms::OutputKind::raw) {
      out_.append(body);
    } else {
      writer_.reset();
      transforms::xdm::write_streaming_message(writer_, target, context_, body);
      out_.append(writer_.view());
    }
    out_.push_back('\n');
  }
  void emit_unchanged(transforms::OutputKind kind, const transforms::Target& target) override {
    emit(kind, target, payload_);
  }

 private:
  std::string& out_;
  transforms::xdm::MessageContext context_;
  std::string_view payload_;
  transforms::xdm::Writer writer_;
};

}  // namespace

int transform(const TransformOptions& options) {
  const auto validated =
      load_and_validate(config::load_file(options.config_path, config::Scope::transforms));
  if (!validated) {
    return kExitConfig;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!options.input_path.empty() && options.input_path != "-") {
    file.open(options.input_path);
    if (!file) {
      std::fprintf(stderr, "%s: cannot open\n", options.input_path.c_str());
      return kExitConfig;
    }
    in = &file;
  }
  std::string topic = options.topic;
  if (topic.empty() && !validated->config.kafka.topics.empty()) {
    topic = validated->config.kafka.topics.front();
  }

  transforms::Stage stage(validated->plan);
  std::string out;
  std::string err;
  const auto& platform = validated->config.sink.platform;
  PrintingEmitter emitter(out, {platform.ims_org_id, platform.source_name});
  transforms::xdm::Writer reject_writer;
  std::string line;
  std::int64_t line_number = 0;
  std::ios::sync_with_stdio(false);
  while (std::getline(*in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.find_first_not_of(" \t") == std::string::npos) {
      continue;
    }
    core::RecordView view;
    view.topic = topic;
    view.offset = line_number;
    view.payload = line;
    emitter.set_payload(line);
    const std::size_t mark = out.size();
    std::string_view event;
    const auto result = stage.process(view, emitter, &event);
    if (!result) {
      out.resize(mark);  // a rejected event emits nothing
      const auto& e = result.error();
      reject_writer.reset();
      reject_writer.begin_object();
      reject_writer.integer("line", line_number);
      reject_writer.string("reason", e.code);
      reject_writer.string("eventName", event);
      reject_writer.string("eventId", stage.last_event_id());
      reject_writer.string("message", e.message);
      reject_writer.end_object();
      err.append(reject_writer.view());
      err.push_back('\n');
    }
    if (out.size() > (1U << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
    if (!err.empty()) {
      std::fflush(stdout);
      std::fwrite(err.data(), 1, err.size(), stderr);
      err.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace bridge::app
