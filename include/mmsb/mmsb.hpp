// The whole public API of mmsb.
#pragma once

#include "mmsb/allocator.hpp"
#include "mmsb/assert.hpp"
#include "mmsb/clock.hpp"
#include "mmsb/delta.hpp"
#include "mmsb/derive.hpp"
#include "mmsb/engine.hpp"
#include "mmsb/env.hpp"
#include "mmsb/fork.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/ids.hpp"
#include "mmsb/ingest.hpp"
#include "mmsb/merge.hpp"
#include "mmsb/page.hpp"
#include "mmsb/rule.hpp"
#include "mmsb/state.hpp"
#include "mmsb/status.hpp"
