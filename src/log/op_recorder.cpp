#include "mmsb/tick_record.hpp"

namespace mmsb::log {
namespace {

// A new op of kind T at the end of `ops`, filled in place.
template <typename T>
T& emplace(std::vector<Op>& ops) {
  return std::get<T>(ops.emplace_back(std::in_place_type<T>));
}

}  // namespace

PageId OpRecorder::create_page(const PageSpec& spec) {
  auto& op = emplace<CreatePageOp>(ops_);
  op.type = spec.type;
  op.size_bytes = spec.size_bytes;
  op.bytes.assign(spec.initial.begin(), spec.initial.end());
  created_sizes_.push_back(spec.size_bytes);
  return PageId(kProvisionalBit | (created_sizes_.size() - 1));
}

void OpRecorder::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  auto& op = emplace<WriteOp>(ops_);
  op.page = page.value();
  op.offset = offset;
  op.bytes.assign(bytes.begin(), bytes.end());
}

void OpRecorder::delete_page(PageId page) { emplace<DeletePageOp>(ops_).page = page.value(); }

EdgeId OpRecorder::add_edge(EdgeKind kind, PageId from, PageId to) {
  auto& op = emplace<AddEdgeOp>(ops_);
  op.edge_kind = kind;
  op.from = from.value();
  op.to = to.value();
  return EdgeId(kProvisionalBit | edges_created_++);
}

void OpRecorder::remove_edge(EdgeId edge) { emplace<RemoveEdgeOp>(ops_).edge = edge.value(); }

void OpRecorder::derive(PageId child, std::span<const PageId> parents, std::string_view function) {
  auto& op = emplace<DeriveOp>(ops_);
  op.page = child.value();
  op.function = std::string(function);
  op.parents.reserve(parents.size());
  for (PageId parent : parents) op.parents.push_back(parent.value());
}

void OpRecorder::apply(RuleFamilyId family, PageId scope) {
  auto& op = emplace<ApplyRuleOp>(ops_);
  op.family = family;
  op.page = scope.value();
}

void OpRecorder::read(PageId page, Epoch epoch) {
  auto& op = emplace<ReadOp>(ops_);
  op.page = page.value();
  op.epoch = epoch.value();
}

void OpRecorder::add(Op op) {
  if (const auto* create = std::get_if<CreatePageOp>(&op))
    created_sizes_.push_back(create->size_bytes);
  if (std::holds_alternative<AddEdgeOp>(op)) ++edges_created_;
  ops_.push_back(std::move(op));
}

std::optional<std::uint64_t> OpRecorder::created_size(PageId page) const {
  if (!is_provisional(page.value())) return std::nullopt;
  const std::uint64_t index = page.value() & ~kProvisionalBit;
  if (index >= created_sizes_.size()) return std::nullopt;
  return created_sizes_[index];
}

}  // namespace mmsb::log
