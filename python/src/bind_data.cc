// Data layer bindings: datasets from numpy arrays / files / the synthetic
// generator, zero-copy column views, vocabularies, splits and eval sets.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "py_common.h"
#include "recsys/core/parallel.h"
#include "recsys/data/event_log.h"
#include "recsys/data/readers.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/snapshot.h"
#include "recsys/data/splits.h"
#include "recsys/data/synthetic.h"

namespace recsys::pyb {

namespace {

using DatasetPtr = std::shared_ptr<SequenceDataset>;

template <typename T>
std::vector<T> ToVector(const py::array_t<T, py::array::c_style>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

std::shared_ptr<const Vocabulary> UserVocab(const DatasetPtr& ds) {
  return std::shared_ptr<const Vocabulary>(ds, &ds->user_vocab());
}

DatasetPtr FromArrays(const py::handle& users, const py::handle& items, const py::handle& timestamps,
                      const py::handle& types, const py::handle& weights, const py::handle& organic,
                      bool drop_duplicates) {
  EventLog log;
  auto u = CheckIntArray(users, "users");
  auto it = CheckIntArray(items, "items");
  const auto n = u.size();
  auto check_len = [n](py::ssize_t got, const char* arg) {
    if (got != n) {
      throw py::value_error(std::string(arg) + ": has " + std::to_string(got) + " entries, expected " +
                            std::to_string(n) + " (the length of users)");
    }
  };
  check_len(it.size(), "items");
  log.users = ToVector(u);
  log.items = ToVector(it);
  if (timestamps.is_none()) {
    log.timestamps.resize(static_cast<size_t>(n));
    for (py::ssize_t i = 0; i < n; ++i) log.timestamps[static_cast<size_t>(i)] = i;
  } else {
    auto t = CheckIntArray(timestamps, "timestamps");
    check_len(t.size(), "timestamps");
    log.timestamps = ToVector(t);
  }
  if (types.is_none()) {
    log.types.assign(static_cast<size_t>(n), static_cast<EventType>(EventKind::kInteraction));
  } else {
    auto t = CheckIntArray(types, "types");
    check_len(t.size(), "types");
    log.types.resize(static_cast<size_t>(n));
    for (py::ssize_t i = 0; i < n; ++i) {
      const int64_t v = t.data()[i];
      if (v < 0 || v > 255) {
        throw py::value_error("types[" + std::to_string(i) + "] = " + std::to_string(v) + " is outside [0, 255]");
      }
      log.types[static_cast<size_t>(i)] = static_cast<EventType>(v);
    }
  }
  if (!weights.is_none()) {
    auto w = CheckFloatArray(weights, "weights", 1, /*strict=*/false);
    check_len(w.size(), "weights");
    log.weights = ToVector(w);
  }
  if (!organic.is_none()) {
    py::array a = py::array::ensure(organic);
    if (!a || !(a.dtype().kind() == 'b' || a.dtype().kind() == 'i' || a.dtype().kind() == 'u')) {
      throw py::type_error("organic: expected a bool or integer array");
    }
    auto o = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
    if (o.ndim() != 1) throw py::value_error("organic: expected a 1-D array");
    check_len(o.size(), "organic");
    log.organic.resize(static_cast<size_t>(n));
    for (py::ssize_t i = 0; i < n; ++i) log.organic[static_cast<size_t>(i)] = o.data()[i] ? 1 : 0;
  }
  DatasetBuildOptions opts;
  opts.drop_exact_duplicates = drop_duplicates;
  absl::StatusOr<SequenceDataset> ds;
  {
    py::gil_scoped_release release;
    ds = SequenceDataset::FromEventLog(log, opts);
  }
  return std::make_shared<SequenceDataset>(ValueOrThrow(std::move(ds)));
}

CsvOptions CsvFrom(const py::dict& d) {
  CsvOptions o;
  for (auto kv : d) {
    const std::string key = py::str(kv.first);
    if (key == "delimiter") {
      const std::string s = py::str(kv.second);
      if (s.size() > 1) throw py::value_error("csv.delimiter: expected a single character, got '" + s + "'");
      o.delimiter = s.empty() ? '\0' : s[0];
    } else if (key == "user_column") o.user_column = py::str(kv.second);
    else if (key == "item_column") o.item_column = py::str(kv.second);
    else if (key == "timestamp_column") o.timestamp_column = py::str(kv.second);
    else if (key == "type_column") o.type_column = py::str(kv.second);
    else if (key == "weight_column") o.weight_column = py::str(kv.second);
    else if (key == "organic_column") o.organic_column = py::str(kv.second);
    else if (key == "require_timestamp") o.require_timestamp = kv.second.cast<bool>();
    else throw py::value_error("csv options: unknown field '" + key + "'");
  }
  return o;
}

DatasetPtr FromFile(const std::string& path, const std::string& format, const py::dict& csv, bool drop_duplicates) {
  CheckPathExists(path, "path");
  const InputFormat f = ValueOrThrow(ParseInputFormat(format));
  const CsvOptions csv_opts = CsvFrom(csv);
  DatasetBuildOptions build;
  build.drop_exact_duplicates = drop_duplicates;
  absl::StatusOr<SequenceDataset> ds;
  {
    py::gil_scoped_release release;
    ds = LoadDataset(path, f, csv_opts, build);
  }
  return std::make_shared<SequenceDataset>(ValueOrThrow(std::move(ds)));
}

SyntheticConfig SyntheticFrom(const py::dict& d) {
  SyntheticConfig c;
  for (auto kv : d) {
    const std::string k = py::str(kv.first);
    auto h = kv.second;
#define RECSYS_PY_FIELD(name) \
  if (k == #name) {           \
    c.name = h.cast<decltype(c.name)>(); \
    continue;                 \
  }
    RECSYS_PY_FIELD(num_users)
    RECSYS_PY_FIELD(num_items)
    RECSYS_PY_FIELD(num_clusters)
    RECSYS_PY_FIELD(min_interests)
    RECSYS_PY_FIELD(max_interests)
    RECSYS_PY_FIELD(mean_events_per_user)
    RECSYS_PY_FIELD(min_events_per_user)
    RECSYS_PY_FIELD(max_events_per_user)
    RECSYS_PY_FIELD(mean_session_length)
    RECSYS_PY_FIELD(interest_switch_prob)
    RECSYS_PY_FIELD(in_session_drift_prob)
    RECSYS_PY_FIELD(noise_prob)
    RECSYS_PY_FIELD(popularity_exponent)
    RECSYS_PY_FIELD(start_time)
    RECSYS_PY_FIELD(time_span)
    RECSYS_PY_FIELD(mean_event_gap)
    RECSYS_PY_FIELD(mean_session_gap)
    RECSYS_PY_FIELD(yambda_extras)
    RECSYS_PY_FIELD(like_prob)
    RECSYS_PY_FIELD(dislike_prob)
    RECSYS_PY_FIELD(organic_prob)
    RECSYS_PY_FIELD(seed)
#undef RECSYS_PY_FIELD
    throw py::value_error("synthetic config: unknown field '" + k + "'");
  }
  return c;
}

template <typename T>
py::array Owned(std::vector<T> v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule cap(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array(py::dtype::of<T>(), {static_cast<py::ssize_t>(heap->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                   heap->data(), cap);
}

py::tuple Synthetic(const py::dict& config, int threads) {
  const SyntheticConfig c = SyntheticFrom(config);
  absl::StatusOr<SyntheticDataset> r;
  {
    py::gil_scoped_release release;
    ThreadLimit limit(threads);
    r = GenerateSyntheticDataset(c);
  }
  SyntheticDataset data = ValueOrThrow(std::move(r));
  auto ds = std::make_shared<SequenceDataset>(std::move(data.dataset));
  py::dict truth;
  truth["item_cluster"] = Owned(std::move(data.truth.item_cluster));
  truth["item_rank"] = Owned(std::move(data.truth.item_rank));
  truth["interest_offsets"] = Owned(std::move(data.truth.interest_offsets));
  truth["interests"] = Owned(std::move(data.truth.interests));
  truth["interest_weights"] = Owned(std::move(data.truth.interest_weights));
  return py::make_tuple(ds, truth);
}

// The Python keywords of temporal_split / temporal_test_cases as options.
TemporalSplitOptions TemporalOptions(Timestamp test_start, Timestamp gap, Timestamp test_window,
                                     bool drop_cold_targets, bool drop_cold_users, bool unique_targets) {
  TemporalSplitOptions o;
  o.test_start = test_start;
  o.gap = gap;
  o.test_window = test_window;
  o.drop_cold_targets = drop_cold_targets;
  o.drop_cold_users = drop_cold_users;
  o.unique_targets = unique_targets;
  return o;
}

PyEvalSet Wrap(EvalSet set, std::shared_ptr<const Vocabulary> vocab) {
  return PyEvalSet{std::make_shared<const EvalSet>(std::move(set)), std::move(vocab)};
}

}  // namespace

MappedHistories MapHistories(const py::handle& offsets, const py::handle& items, const Vocabulary& vocab) {
  auto off = CheckIntArray(offsets, "offsets");
  auto it = CheckIntArray(items, "items");
  if (off.size() < 1) throw py::value_error("offsets: must have at least one entry (n + 1)");
  const int64_t* o = off.data();
  const int64_t n = off.size() - 1;
  if (o[0] != 0 || o[n] != it.size()) {
    throw py::value_error("offsets: must start at 0 and end at len(items) = " + std::to_string(it.size()));
  }
  MappedHistories h;
  h.dense.reserve(static_cast<size_t>(it.size()));
  h.offsets.reserve(static_cast<size_t>(n + 1));
  h.offsets.push_back(0);
  for (int64_t r = 0; r < n; ++r) {
    if (o[r + 1] < o[r]) throw py::value_error("offsets: must be non-decreasing (row " + std::to_string(r) + ")");
    for (int64_t j = o[r]; j < o[r + 1]; ++j) {
      const int32_t d = vocab.Find(it.data()[j]);
      if (d < 0) {
        ++h.unknown;
      } else {
        h.dense.push_back(d);
      }
    }
    h.offsets.push_back(static_cast<int64_t>(h.dense.size()));
  }
  h.views.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    h.views[static_cast<size_t>(r)].items =
        std::span<const ItemIndex>(h.dense).subspan(static_cast<size_t>(h.offsets[r]),
                                                    static_cast<size_t>(h.offsets[r + 1] - h.offsets[r]));
  }
  return h;
}

void BindData(py::module_& m) {
  py::class_<PyVocab>(m, "Vocabulary", "External ids ↔ dense indices (read-only).")
      .def("__len__", [](const PyVocab& v) { return v.v->size(); })
      .def_property_readonly(
          "ids",
          [](py::object self) {
            const auto& v = self.cast<const PyVocab&>();
            return View<ExternalId>(v.v->externals(), self);
          },
          "External id of every dense index (int64, zero-copy, read-only).")
      .def(
          "lookup",
          [](const PyVocab& v, const py::handle& ids) {
            auto a = CheckIntArray(ids, "ids");
            auto out = NewArray<int32_t>({a.size()});
            auto* o = out.mutable_data();
            for (py::ssize_t i = 0; i < a.size(); ++i) o[i] = v.v->Find(a.data()[i]);
            return out;
          },
          py::arg("ids"), "Dense indices of external ids (-1 when unknown).");

  py::class_<SequenceDataset, DatasetPtr>(m, "Dataset",
                                          "Per-user chronological histories in CSR form (C++ SequenceDataset).")
      .def_static("from_arrays", &FromArrays, py::arg("users"), py::arg("items"), py::arg("timestamps") = py::none(),
                  py::arg("types") = py::none(), py::arg("weights") = py::none(), py::arg("organic") = py::none(),
                  py::arg("drop_duplicates") = false)
      .def_static("from_file", &FromFile, py::arg("path"), py::arg("format") = "auto", py::arg("csv") = py::dict(),
                  py::arg("drop_duplicates") = false)
      .def_property_readonly("num_users", &SequenceDataset::num_users)
      .def_property_readonly("num_items", &SequenceDataset::num_items)
      .def_property_readonly("num_events", &SequenceDataset::num_events)
      .def("__len__", &SequenceDataset::num_users)
#define RECSYS_PY_COLUMN(name, getter)                                                          \
  .def_property_readonly(name, [](py::object self) {                                           \
    const auto& ds = self.cast<const SequenceDataset&>();                                      \
    return View(ds.getter(), self);                                                            \
  })
      RECSYS_PY_COLUMN("offsets", offsets)
      RECSYS_PY_COLUMN("items", all_items)
      RECSYS_PY_COLUMN("timestamps", all_timestamps)
      RECSYS_PY_COLUMN("types", all_types)
      RECSYS_PY_COLUMN("weights", all_weights)
      RECSYS_PY_COLUMN("organic", all_organic)
#undef RECSYS_PY_COLUMN
      .def_property_readonly("item_vocab",
                             [](const DatasetPtr& ds) { return PyVocab{std::shared_ptr<const Vocabulary>(ds, &ds->item_vocab())}; })
      .def_property_readonly("user_vocab", [](const DatasetPtr& ds) { return PyVocab{UserVocab(ds)}; })
      .def("item_counts", [](const SequenceDataset& ds) { return Owned(ds.ItemCounts()); })
      .def(
          "save_snapshot",
          [](const SequenceDataset& ds, const std::string& path) {
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = WriteSnapshot(ds, path);
            }
            ThrowIfError(s);
          },
          py::arg("path"))
      .def(
          "save_temporal_train_snapshot",
          [](const SequenceDataset& ds, const std::string& path, Timestamp test_start, Timestamp gap,
             Timestamp test_window) {
            TemporalSplitOptions o;
            o.test_start = test_start;
            o.gap = gap;
            o.test_window = test_window;
            absl::StatusOr<TemporalTrainSnapshotInfo> r;
            {
              py::gil_scoped_release release;
              r = WriteTemporalTrainSnapshot(ds, o, path);
            }
            const TemporalTrainSnapshotInfo info = ValueOrThrow(std::move(r));
            py::dict stats;
            stats["train_events"] = info.train_events;
            stats["gap_events"] = info.gap_events;
            stats["test_window_events"] = info.test_window_events;
            stats["after_window_events"] = info.after_window_events;
            stats["users_with_train_events"] = info.users_with_train_events;
            return stats;
          },
          py::arg("path"), py::arg("test_start"), py::arg("gap") = 0, py::arg("test_window") = 86400);

  m.def("synthetic", &Synthetic, py::arg("config") = py::dict(), py::arg("threads") = 0,
        "Generates a synthetic dataset; returns (Dataset, truth dict of numpy arrays).");

  py::class_<PyEvalSet>(m, "EvalSet", "Evaluation cases: input histories and targets (dense indices of `vocab`).")
      .def("__len__", [](const PyEvalSet& e) { return e.set->size(); })
      .def_property_readonly("vocab", [](const PyEvalSet& e) { return PyVocab{e.vocab}; })
      .def_property_readonly("unknown_input_items", [](const PyEvalSet& e) { return e.set->unknown_input_items; })
      .def_property_readonly("unknown_targets", [](const PyEvalSet& e) { return e.set->unknown_targets; })
#define RECSYS_PY_ECOLUMN(name, field)                                                         \
  .def_property_readonly(name, [](py::object self) {                                          \
    const auto& e = self.cast<const PyEvalSet&>();                                            \
    return View(std::span(std::as_const(e.set->field)), self);                                \
  })
      RECSYS_PY_ECOLUMN("users", users)
      RECSYS_PY_ECOLUMN("input_offsets", input_offsets)
      RECSYS_PY_ECOLUMN("input_items", input_items)
      RECSYS_PY_ECOLUMN("target_offsets", target_offsets)
      RECSYS_PY_ECOLUMN("targets", targets)
#undef RECSYS_PY_ECOLUMN
      .def_static(
          "from_csr",
          [](const py::handle& offsets, const py::handle& items, const py::handle& targets, const PyVocab& vocab) {
            auto off = CheckIntArray(offsets, "offsets");
            auto it = CheckIntArray(items, "items");
            const int64_t n = off.size() - 1;
            if (n < 0 || off.data()[0] != 0 || off.data()[n] != it.size()) {
              throw py::value_error("offsets: must have n + 1 entries from 0 to len(items)");
            }
            std::vector<std::vector<ExternalId>> inputs(static_cast<size_t>(n));
            for (int64_t r = 0; r < n; ++r) {
              if (off.data()[r + 1] < off.data()[r]) throw py::value_error("offsets: must be non-decreasing");
              inputs[static_cast<size_t>(r)].assign(it.data() + off.data()[r], it.data() + off.data()[r + 1]);
            }
            std::vector<ExternalId> tg;
            if (!targets.is_none()) {
              auto t = CheckIntArray(targets, "targets");
              if (t.size() != n) {
                throw py::value_error("targets: has " + std::to_string(t.size()) + " entries, expected one per history (" +
                                      std::to_string(n) + ")");
              }
              tg.assign(t.data(), t.data() + t.size());
            }
            return Wrap(ValueOrThrow(MakeEvalSet(inputs, tg, *vocab.v)), vocab.v);
          },
          py::arg("offsets"), py::arg("items"), py::arg("targets"), py::arg("vocab"),
          "Cases from external-id histories (CSR) and one target per history.");

  m.def(
      "loo_split",
      [](const DatasetPtr& full) {
        absl::StatusOr<LooSplit> r;
        {
          py::gil_scoped_release release;
          r = LeaveOneOutSplit(*full);
        }
        LooSplit s = ValueOrThrow(std::move(r));
        auto train = std::make_shared<SequenceDataset>(std::move(s.train));
        auto vocab = train->shared_item_vocab();
        return py::make_tuple(train, Wrap(std::move(s.valid), vocab), Wrap(std::move(s.test), vocab),
                              s.skipped_users);
      },
      py::arg("dataset"), "Leave-one-out split → (train, valid, test, skipped_users).");

  m.def(
      "temporal_split",
      [](const DatasetPtr& full, Timestamp test_start, Timestamp gap, Timestamp test_window, bool drop_cold_targets,
         bool drop_cold_users, bool unique_targets) {
        const TemporalSplitOptions o =
            TemporalOptions(test_start, gap, test_window, drop_cold_targets, drop_cold_users, unique_targets);
        absl::StatusOr<TemporalSplit> r;
        {
          py::gil_scoped_release release;
          r = GlobalTemporalSplit(*full, o);
        }
        TemporalSplit s = ValueOrThrow(std::move(r));
        auto train = std::make_shared<SequenceDataset>(std::move(s.train));
        py::dict stats;
        stats["gap_events"] = s.gap_events;
        stats["after_window_events"] = s.after_window_events;
        stats["cold_targets"] = s.cold_targets;
        stats["cold_users"] = s.cold_users;
        return py::make_tuple(train, Wrap(std::move(s.test), train->shared_item_vocab()), stats);
      },
      py::arg("dataset"), py::arg("test_start"), py::arg("gap") = 0, py::arg("test_window") = 86400,
      py::arg("drop_cold_targets") = true, py::arg("drop_cold_users") = true, py::arg("unique_targets") = true,
      "Global temporal split → (train, test, stats).");

  m.def(
      "temporal_test_cases",
      [](const DatasetPtr& full, Timestamp test_start, Timestamp gap, Timestamp test_window, int64_t max_cases,
         bool drop_cold_targets, bool drop_cold_users, bool unique_targets) {
        const TemporalSplitOptions o =
            TemporalOptions(test_start, gap, test_window, drop_cold_targets, drop_cold_users, unique_targets);
        absl::StatusOr<TemporalTestCases> r;
        {
          py::gil_scoped_release release;
          r = GlobalTemporalTestCases(*full, o, max_cases);
        }
        TemporalTestCases t = ValueOrThrow(std::move(r));
        py::dict stats;
        stats["cases"] = t.cases;
        stats["train_events"] = t.train_events;
        stats["gap_events"] = t.gap_events;
        stats["after_window_events"] = t.after_window_events;
        stats["cold_targets"] = t.cold_targets;
        stats["cold_users"] = t.cold_users;
        return py::make_tuple(Wrap(std::move(t.test), full->shared_item_vocab()), stats);
      },
      py::arg("dataset"), py::arg("test_start"), py::arg("gap") = 0, py::arg("test_window") = 86400,
      py::arg("max_cases") = 0, py::arg("drop_cold_targets") = true, py::arg("drop_cold_users") = true,
      py::arg("unique_targets") = true,
      "The test cases of the global temporal split without its train part → (test, stats).");

  m.def(
      "read_sequences",
      [](const std::string& path) {
        CheckPathExists(path, "path");
        absl::StatusOr<std::vector<std::vector<ExternalId>>> r;
        {
          py::gil_scoped_release release;
          r = ReadSequences(path);
        }
        return ValueOrThrow(std::move(r));
      },
      py::arg("path"));
  m.def(
      "read_id_list",
      [](const std::string& path) {
        CheckPathExists(path, "path");
        return Owned(ValueOrThrow(ReadIdList(path)));
      },
      py::arg("path"));
}

}  // namespace recsys::pyb
