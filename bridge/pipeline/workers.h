#pragma once
// Transform threads for the pipeline (`pipeline.workers`). Each worker owns a transforms::Stage
// and a FIFO of jobs; the pipeline gives every partition one worker for as long as it is
// assigned, so a partition's records are transformed in offset order, one at a time, and come
// back in that order. The pipeline thread only hands jobs over and takes results back, in
// batches under one lock each way; it never runs a transform itself.
//
// A job is the pipeline's own record: the worker reads its record and writes its result fields
// (`TransformJob`), and the pipeline touches neither while the job is out (the hand-over queues'
// locks order the two). Jobs are records already counted against the in-flight caps, so the
// queues are bounded by them.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bridge/core/record.h"
#include "bridge/core/result.h"
#include "transforms/api/router.h"

namespace bridge::pipeline {

// What a worker reads and writes for one record.
struct TransformJob {
  struct Output {
    transforms::OutputKind kind;
    const transforms::Target* target;
    std::string body;  // empty when `unchanged`
    bool unchanged;
  };
  // In: the record (its bytes live until the job is back), and a tag for the owner.
  core::RecordView view;
  std::uint64_t tag = 0;
  // Out.
  core::Result<void> result;
  std::vector<Output> outputs;
  std::string order_key;
  std::string_view event;      // views view.payload
  std::string_view transform;  // the route's transform name (the plan's storage)
  std::vector<std::string> warnings;
};

class Workers {
 public:
  // Starts `count` threads (count >= 1), each with its own Stage over `plan`.
  Workers(std::size_t count, const std::shared_ptr<const transforms::RouterPlan>& plan);
  ~Workers();  // stops the threads; jobs not yet taken are dropped
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  [[nodiscard]] std::size_t size() const { return workers_.size(); }

  // Queues a job on worker `index` (its FIFO); submit() hands the queued jobs over.
  void add(std::size_t index, TransformJob* job);
  void submit();
  // Appends the jobs done so far, per worker in the order they were added.
  void take_done(std::vector<TransformJob*>& out);
  // Waits at most `wait` for a job to be done (returns at once when one is).
  void wait_done(std::chrono::milliseconds wait);
  // Waits until every submitted job is done (they are then in take_done()), or a worker ended
  // by an exception (reported with core::report_fatal).
  void wait_idle();

 private:
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<TransformJob*> jobs;    // handed over, not yet taken by the thread
    std::vector<TransformJob*> staged;  // pipeline thread only: added, not yet submitted
    bool stop = false;
    std::thread thread;
  };

  void run(Worker& w, const std::shared_ptr<const transforms::RouterPlan>& plan);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex done_mutex_;
  std::condition_variable done_changed_;
  std::vector<TransformJob*> done_;
  std::size_t outstanding_ = 0;  // submitted, not yet done (under done_mutex_)
  bool failed_ = false;          // a worker ended (stopping, or by an exception)
};

// Runs one job on `stage` (what a worker does; also the inline path with no workers).
void run_job(transforms::Stage& stage, TransformJob& job);

}  // namespace bridge::pipeline
