// TickRecord's encoding and limits (docs/FORMAT.md "TickRecord"); the record's types are
// public (mmsb/tick_record.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mmsb/status.hpp"
#include "mmsb/tick_record.hpp"

namespace mmsb::log {

inline constexpr std::uint8_t kTickRecordVersion = 6;
// Limits that keep every TickRecord decodable and under the record size limit: a
// transaction above either is refused at commit, and a tick closes before it would pass
// kTickBytesMax.
inline constexpr std::uint32_t kOpsPerTransactionMax = 1u << 20;
inline constexpr std::uint64_t kTransactionBytesMax = 256ull << 20;
inline constexpr std::uint64_t kTickBytesMax = 256ull << 20;

// An upper bound on the encoded size of a transaction's ops.
std::uint64_t encoded_size_bound(const std::vector<Op>& ops);

// Appends the payload encoding (docs/FORMAT.md) to `out`. A count above its limit (one the
// decoder would refuse) is InvalidArgument naming it, and `out` is left as it was.
[[nodiscard]] Status encode_tick_record(const TickRecord& record, std::vector<std::byte>& out);
// Decodes one payload; Corruption naming the field on malformed input.
Result<TickRecord> decode_tick_record(std::span<const std::byte> payload);
// The same into `record`, whose vectors keep their memory from one record to the next (a
// replay decodes every record into one). On an error `record` holds part of the payload.
Status decode_tick_record(std::span<const std::byte> payload, TickRecord& record);

// One transaction's inputs outside the log (the wire protocol's COMMIT body, docs/FORMAT.md
// "Wire protocol"): an op count (u32), then each op as a TickRecord lays it out with every
// result field zero. Same limits as the log (InvalidArgument naming the field).
[[nodiscard]] Status encode_ops(const std::vector<Op>& ops, std::vector<std::byte>& out);
// Decodes what encode_ops wrote, all of `bytes`; InvalidArgument naming the field and byte
// on malformed input or a non-zero result field.
Status decode_ops(std::span<const std::byte> bytes, std::vector<Op>& ops);

}  // namespace mmsb::log
