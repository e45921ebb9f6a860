#include "sched/telemetry.hpp"

#include <cerrno>
#include <cstring>

namespace mmsb::sched {
namespace {

// The first 8 hex digits of the 16-digit family id.
std::string short_family(RuleFamilyId family) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(family));
  return std::string(text, 8);
}

}  // namespace

std::string telemetry_line(TickId tick, const RuleReceipt& receipt) {
  std::string line = receipt.outcome == ReceiptOutcome::kApplied ? "{\"event\":\"reserved\""
                                                                 : "{\"event\":\"conflict\"";
  line += ",\"tick\":" + std::to_string(tick.value());
  line += ",\"rule\":\"" + short_family(receipt.family) + "\"";
  line += ",\"scope\":" + std::to_string(receipt.scope.value());
  line += ",\"attempt\":" + std::to_string(receipt.attempt);
  if (receipt.outcome != ReceiptOutcome::kApplied) {
    line += ",\"blocker_rule\":\"" + short_family(receipt.blocker_family) + "\"";
    line += ",\"blocker_scope\":" + std::to_string(receipt.blocker_scope.value());
    line += ",\"outcome\":\"" + std::string(receipt_outcome_name(receipt.outcome)) + "\"";
    if (receipt.outcome == ReceiptOutcome::kDeferred) {
      line += ",\"retry_at\":" + std::to_string(receipt.retry_at.value());
    }
  }
  line += "}";
  return line;
}

Result<std::unique_ptr<TelemetryWriter>> TelemetryWriter::open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) {
    return io_error("rule telemetry file " + path + ": " + std::strerror(errno));
  }
  return std::unique_ptr<TelemetryWriter>(new TelemetryWriter(file));
}

TelemetryWriter::TelemetryWriter(std::FILE* file) : file_(file) {
  thread_ = std::thread([this] { run(); });
}

TelemetryWriter::~TelemetryWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
  std::fclose(file_);
}

void TelemetryWriter::post(TickId tick, std::span<const RuleReceipt> receipts) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const RuleReceipt& receipt : receipts) {
    if (receipt.outcome != ReceiptOutcome::kApplied &&
        receipt.outcome != ReceiptOutcome::kRejected &&
        receipt.outcome != ReceiptOutcome::kDeferred) {
      continue;
    }
    if (queue_.size() >= kTelemetryEventsQueuedMax) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    queue_.push_back(Event{tick, receipt});
  }
  changed_.notify_one();
}

void TelemetryWriter::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void TelemetryWriter::run() {
  std::vector<Event> batch;
  std::string text;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      writing_ = false;
      drained_.notify_all();
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.swap(queue_);
      writing_ = true;
    }
    text.clear();
    for (const Event& event : batch) {
      text += telemetry_line(event.tick, event.receipt);
      text += '\n';
    }
    std::fwrite(text.data(), 1, text.size(), file_);
    std::fflush(file_);
    written_.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.clear();
  }
}

}  // namespace mmsb::sched
