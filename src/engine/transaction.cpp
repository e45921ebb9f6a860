// Transaction: records operations on the caller's thread; commit() hands them to the
// sequencer and waits for the outcome.
#include <optional>

#include "engine/engine_impl.hpp"

namespace mmsb {

using engine::Request;

Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction& Transaction::operator=(Transaction&&) noexcept = default;
Transaction::~Transaction() = default;

PageId Transaction::create_page(const PageSpec& spec) { return impl_->recorder.create_page(spec); }

void Transaction::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  impl_->recorder.write(page, offset, bytes);
}

void Transaction::put(PageId page, std::span<const std::byte> bytes) {
  // A put writes the whole page: its size must match, and page sizes never change, so the
  // check can be made now; the error is reported by commit(), which then submits nothing.
  std::optional<std::uint64_t> size = impl_->recorder.created_size(page);
  if (!log::is_provisional(page.value())) {
    if (auto view = impl_->snapshot.page(page); view.is_ok()) size = view->size_bytes;
  }
  if (size && *size != bytes.size() && impl_->deferred.is_ok()) {
    impl_->deferred =
        invalid_argument("operation " + std::to_string(impl_->recorder.ops().size()) + ": page " +
                         (log::is_provisional(page.value())
                              ? "new #" + std::to_string(page.value() & ~log::kProvisionalBit)
                              : std::to_string(page.value())) +
                         ": put of " + std::to_string(bytes.size()) + " bytes into a page of " +
                         std::to_string(*size) + " bytes");
  }
  write(page, 0, bytes);
}

void Transaction::delete_page(PageId page) { impl_->recorder.delete_page(page); }

EdgeId Transaction::add_edge(EdgeKind kind, PageId from, PageId to) {
  return impl_->recorder.add_edge(kind, from, to);
}

void Transaction::remove_edge(EdgeId edge) { impl_->recorder.remove_edge(edge); }

void Transaction::derive(PageId child, std::span<const PageId> parents, std::string_view function) {
  impl_->recorder.derive(child, parents, function);
}

void Transaction::apply(std::string_view rule, PageId scope) {
  const RuleFamilyId family = rule_family_id(rule);
  impl_->recorder.apply(family, scope);
  impl_->check_rule(family, rule);
}

void Transaction::Impl::check_rule(RuleFamilyId family, std::optional<std::string_view> name) {
  if (!rules || rules->find(family) == nullptr) {
    rules = engine->rules.snapshot();  // registered since the last look?
  }
  if (deferred.is_ok() && rules->find(family) == nullptr) {
    const std::string rule =
        name ? "rule '" + std::string(*name) + "'" : "rule family " + std::to_string(family);
    deferred = failed_precondition("operation " + std::to_string(recorder.ops().size() - 1) +
                                   ": apply: " + rule + " is not registered in this engine");
  }
}

Result<std::span<const std::byte>> Transaction::read(PageId page) {
  MMSB_ASSIGN_OR_RETURN(PageView view, impl_->snapshot.page(page));
  impl_->recorder.read(page, view.epoch);
  return view.bytes;
}

const State& Transaction::snapshot() const { return impl_->snapshot; }

Status Transaction::add(log::Op op) {
  if (impl_->committed) return failed_precondition("transaction already committed");
  impl_->recorder.add(std::move(op));
  if (const auto* apply = std::get_if<log::ApplyRuleOp>(&impl_->recorder.ops().back())) {
    impl_->check_rule(apply->family, std::nullopt);
  }
  return Status::ok();
}

Result<std::unique_ptr<Request>> Transaction::Impl::seal(Request::Waiter waiter) {
  if (committed) return failed_precondition("transaction already committed");
  committed = true;
  MMSB_RETURN_IF_ERROR(deferred);
  const std::vector<log::Op>& ops = recorder.ops();
  if (ops.size() > log::kOpsPerTransactionMax) {
    return resource_exhausted("transaction of " + std::to_string(ops.size()) +
                              " operations exceeds the limit of " +
                              std::to_string(log::kOpsPerTransactionMax));
  }
  const std::uint64_t encoded_bound = log::encoded_size_bound(ops);
  if (encoded_bound > log::kTransactionBytesMax) {
    return resource_exhausted("transaction of about " + std::to_string(encoded_bound) +
                              " bytes exceeds the limit of " +
                              std::to_string(log::kTransactionBytesMax));
  }
  std::shared_ptr<const graph::FunctionMap> functions;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto* op = std::get_if<log::DeriveOp>(&ops[i]);
    if (op == nullptr || op->function.empty()) continue;
    if (!functions) functions = engine->functions.snapshot();
    if (functions->find(op->function) == functions->end()) {
      return failed_precondition("operation " + std::to_string(i) + ": derive: function '" +
                                 op->function + "' is not registered in this engine");
    }
  }
  auto request = std::make_unique<Request>(waiter);
  request->ops = recorder.take();
  request->encoded_bound = encoded_bound;
  return request;
}

Result<CommitInfo> Transaction::commit() {
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<Request> request, impl_->seal(Request::Waiter::kCommit));
  std::future<Result<CommitInfo>> result = request->done->get_future();
  MMSB_RETURN_IF_ERROR(impl_->engine->submit(request.get()));
  return result.get();
}

void Transaction::commit_async(CommitCallback done) {
  Result<std::unique_ptr<Request>> sealed = impl_->seal(Request::Waiter::kCallback);
  if (!sealed.is_ok()) {
    done(sealed.status());
    return;
  }
  std::unique_ptr<Request> request = std::move(*sealed);
  request->on_done = std::move(done);
  Status submitted = impl_->engine->submit(request.get());
  if (!submitted.is_ok()) {
    CommitCallback callback = std::move(request->on_done);
    callback(submitted);
    return;
  }
  (void)request.release();  // the sequencer answers it and deletes it (Request::finish)
}

}  // namespace mmsb
