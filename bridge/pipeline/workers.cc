#include "bridge/pipeline/workers.h"

#include <fmt/format.h>
#include <pthread.h>

#include <exception>
#include <utility>

#include "bridge/core/fatal.h"

namespace bridge::pipeline {
namespace {

// Collects a transform's outputs into its job.
class Collector final : public transforms::Emitter {
 public:
  explicit Collector(TransformJob& job) : job_(job) {}
  void emit(transforms::OutputKind kind, const transforms::Target& target,
            std::string_view body) override {
    job_.outputs.push_back({kind, &target, std::string(body), false});
  }
  void emit_unchanged(transforms::OutputKind kind, const transforms::Target& target) override {
    job_.outputs.push_back({kind, &target, {}, true});
  }
  void warning(std::string_view code) override { job_.warnings.emplace_back(code); }
  void order_key(std::string_view key) override { job_.order_key.assign(key); }

 private:
  TransformJob& job_;
};

}  // namespace

void run_job(transforms::Stage& stage, TransformJob& job) {
  job.outputs.clear();
  job.order_key.clear();
  job.warnings.clear();
  Collector collector(job);
  std::string_view event;
  job.result = stage.process(job.view, collector, &event);
  job.event = event;
  job.transform = stage.last_transform();
}

Workers::Workers(std::size_t count, const std::shared_ptr<const transforms::RouterPlan>& plan) {
  workers_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto w = std::make_unique<Worker>();
    Worker& ref = *w;
    w->thread = std::thread([this, &ref, plan, i] {
      const std::string name = fmt::format("cb-transform-{}", i);
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      run(ref, plan);
    });
    workers_.push_back(std::move(w));
  }
}

Workers::~Workers() {
  for (auto& w : workers_) {
    {
      const std::lock_guard lock(w->mutex);
      w->stop = true;
    }
    w->wake.notify_one();
  }
  for (auto& w : workers_) {
    w->thread.join();
  }
}

void Workers::add(std::size_t index, TransformJob* job) {
  workers_[index % workers_.size()]->staged.push_back(job);
}

void Workers::submit() {
  for (auto& w : workers_) {
    if (w->staged.empty()) {
      continue;
    }
    {
      const std::lock_guard lock(done_mutex_);
      outstanding_ += w->staged.size();
    }
    {
      const std::lock_guard lock(w->mutex);
      w->jobs.insert(w->jobs.end(), w->staged.begin(), w->staged.end());
    }
    w->staged.clear();
    w->wake.notify_one();
  }
}

void Workers::take_done(std::vector<TransformJob*>& out) {
  const std::lock_guard lock(done_mutex_);
  out.insert(out.end(), done_.begin(), done_.end());
  done_.clear();
}

void Workers::wait_done(std::chrono::milliseconds wait) {
  std::unique_lock lock(done_mutex_);
  done_changed_.wait_for(lock, wait, [this] { return !done_.empty() || failed_; });
}

void Workers::wait_idle() {
  submit();
  std::unique_lock lock(done_mutex_);
  done_changed_.wait(lock, [this] { return outstanding_ == 0 || failed_; });
}

void Workers::run(Worker& w, const std::shared_ptr<const transforms::RouterPlan>& plan) {
  core::run_guarded("transform worker", [&] {
    transforms::Stage stage(plan);
    std::vector<TransformJob*> batch;
    for (;;) {
      {
        std::unique_lock lock(w.mutex);
        w.wake.wait(lock, [&] { return w.stop || !w.jobs.empty(); });
        if (w.stop) {
          return;
        }
        batch.swap(w.jobs);
      }
      for (TransformJob* job : batch) {
        try {
          run_job(stage, *job);
        } catch (const std::exception& e) {
          // Ours, not the transform's (Stage::process catches those): the pipeline stops.
          job->result = core::fail(core::ErrorKind::fatal, "transform-worker", e.what());
        }
      }
      {
        const std::lock_guard lock(done_mutex_);
        done_.insert(done_.end(), batch.begin(), batch.end());
        outstanding_ -= batch.size();
      }
      done_changed_.notify_all();
      batch.clear();
    }
  });
  // Only an exception (reported as fatal) ends the loop without `stop`: nobody waits for this
  // worker's jobs any more (the pipeline stops on the fatal report).
  {
    const std::lock_guard lock(done_mutex_);
    failed_ = true;
  }
  done_changed_.notify_all();
}

}  // namespace bridge::pipeline
