// A service-like consumer of an installed recsys: builds a dataset and selects
// the top items by popularity through the public API.
#include <cstdio>

#include "recsys/recsys.h"

int main() {
  recsys::EventLog log;
  log.Append(1, 10, 1);
  log.Append(1, 11, 2);
  log.Append(2, 10, 1);
  auto ds = recsys::SequenceDataset::FromEventLog(log);
  if (!ds.ok()) {
    std::fprintf(stderr, "%s\n", std::string(ds.status().message()).c_str());
    return 1;
  }
  auto counts = ds->ItemCounts();
  recsys::TopK<int32_t> top(1);
  for (int32_t i = 0; i < static_cast<int32_t>(counts.size()); ++i) top.Push(static_cast<float>(counts[i]), i);
  auto best = top.Extract();
  std::printf("users=%d items=%d top=%lld (%s)\n", ds->num_users(), ds->num_items(),
              static_cast<long long>(ds->item_vocab().External(best[0].id)), recsys::Version());
  return ds->item_vocab().External(best[0].id) == 10 ? 0 : 1;
}
