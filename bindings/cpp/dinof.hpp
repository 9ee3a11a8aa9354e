// dinof.hpp: header-only C++17 wrapper over the dinof C API (dinof.h).
//
// - dinof::Model and dinof::Job own their handles (move-only, freed in the destructor).
// - Failures throw dinof::Error, carrying the dinof_status and the library's message.
// - Results come back as std::vector<float> (NCHW, pixels in [0, 1]) or std::vector<uint8_t> (RGBA8).
// - Progress callbacks are std::function<bool(const dinof_progress&)>: return true to continue, false to cancel.
//   An exception thrown by the callback cancels the run and is rethrown to the caller.
//
// Threading follows the C API: a Model may be used by many threads at once; a Job's methods may be called from any
// thread. Its destructor returns at once, also for a running job (the C API cancels and detaches it, and never calls
// its progress callback afterwards); do not destroy a Job from inside its own progress callback.
#ifndef DINOF_HPP
#define DINOF_HPP

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dinof.h"

namespace dinof {

/// A failed dinof call: the status code and the library's explanation (which already names the kind of error; the
/// status string is used only when there is no message).
class Error : public std::runtime_error {
public:
    Error(dinof_status status, const std::string& message)
        : std::runtime_error(message.empty() ? std::string(dinof_status_string(status)) : message), status_(status) {}
    dinof_status status() const noexcept { return status_; }

private:
    dinof_status status_;
};

namespace detail {
inline void check(dinof_status s) {
    if (s != DINOF_STATUS_OK) throw Error(s, dinof_last_error_message());
}
}  // namespace detail

/// Progress observer: return false to cancel.
using ProgressFn = std::function<bool(const dinof_progress&)>;

/// Sample options with the library defaults; set fields directly (see dinof.h), e.g. `o.n = 4; o.with_seed(7);`.
struct SampleOptions : dinof_sample_options {
    SampleOptions() : dinof_sample_options() { detail::check(dinof_sample_options_init(this, sizeof(dinof_sample_options))); }
    explicit SampleOptions(uint64_t images) : SampleOptions() { n = images; }
    SampleOptions(const SampleOptions& o) : dinof_sample_options(o), owned_(o.owned_), owns_(o.owns_) { relink(); }
    SampleOptions& operator=(const SampleOptions& o) {
        dinof_sample_options::operator=(o);
        owned_ = o.owned_;
        owns_ = o.owns_;
        relink();
        return *this;
    }
    /// A fixed seed (clears random_seed).
    SampleOptions& with_seed(uint64_t s) {
        seed = s;
        random_seed = 0;
        return *this;
    }
    /// Class labels: one for all images or one per image. Copied into the options, so a temporary is fine
    /// (`with_labels({0, 1, 0, 1})`); copies of the options carry their own copy.
    SampleOptions& with_labels(std::vector<int64_t> l) {
        owned_ = std::move(l);
        owns_ = true;
        relink();
        return *this;
    }

    /// Where the reverse process starts: DINOF_START_FLOW, DINOF_START_GAUSSIAN (the fitted Gaussian at T_m, the
    /// baseline that shows what the flow adds) or DINOF_START_PRIOR; t_m picks the flow or Gaussian (0 = the
    /// bundle's default; see ModelInfo::t_m and ModelInfo::gaussian_t_m).
    SampleOptions& with_start(dinof_start s, double t = 0.0) {
        start = s;
        t_m = t;
        return *this;
    }

    /// Classifier-free guidance scale w (> 0; 0 = off even when the bundle has a default). Needs
    /// ModelInfo::has_guidance.
    SampleOptions& with_guidance(double w) {
        guidance = w > 0.0 ? w : -1.0;
        return *this;
    }

private:
    void relink() {
        if (!owns_) return;  // labels set by hand point wherever the caller wants
        labels = owned_.empty() ? nullptr : owned_.data();
        label_count = owned_.size();
    }
    std::vector<int64_t> owned_;
    bool owns_ = false;
};

/// Load options with the library defaults.
struct LoadOptions : dinof_load_options {
    LoadOptions() : dinof_load_options() { detail::check(dinof_load_options_init(this, sizeof(dinof_load_options))); }
};

/// Static facts about a model, copied out of the library.
struct ModelInfo {
    std::string name;
    uint32_t channels = 0, height = 0, width = 0, classes = 0;
    size_t image_len = 0, rgba8_len = 0;
    dinof_sde sde = DINOF_SDE_VP;
    std::vector<double> t_m;
    /// T_m of each Gaussian start (DINOF_START_GAUSSIAN), ascending; empty when the bundle has none.
    std::vector<double> gaussian_t_m;
    bool has_flow_start = false, has_prior_start = false, has_gaussian_start = false;
    dinof_start default_start = DINOF_START_DEFAULT;
    double default_t_start = 0.0;
    uint32_t default_steps = 0;
    std::string backend;
    std::vector<std::string> execution_providers;
    bool fell_back = false;
    uint32_t threads = 0, sub_batch = 0;
    /// Class names in label order (empty when the bundle has none).
    std::vector<std::string> label_names;
    bool has_guidance = false;
    double default_guidance = 0.0;
};

namespace detail {
/// Carries a std::function through the C callback and remembers an exception it threw.
struct Observer {
    ProgressFn fn;
    std::exception_ptr error;

    static int call(const dinof_progress* p, void* user) noexcept {
        auto* self = static_cast<Observer*>(user);
        try {
            return self->fn(*p) ? 0 : 1;
        } catch (...) {
            self->error = std::current_exception();
            return 1;
        }
    }
    dinof_progress_fn c_fn() const { return fn ? &Observer::call : nullptr; }
    void* user() { return fn ? this : nullptr; }
    /// After a run: the callback's exception wins over the CANCELLED status it caused.
    void finish(dinof_status s) const {
        if (error) std::rethrow_exception(error);
        check(s);
    }
};
}  // namespace detail

class Job;

/// A loaded model (immutable; share one across threads).
class Model {
public:
    explicit Model(const std::string& path, const dinof_load_options& opts = LoadOptions()) {
        detail::check(dinof_model_load(path.c_str(), &opts, &handle_));
    }
    Model(Model&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
    Model& operator=(Model&& o) noexcept {
        if (this != &o) {
            dinof_model_free(handle_);
            handle_ = std::exchange(o.handle_, nullptr);
        }
        return *this;
    }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    ~Model() { dinof_model_free(handle_); }

    const dinof_model* get() const noexcept { return handle_; }

    ModelInfo info() const {
        dinof_model_info c{};
        c.struct_size = sizeof c;
        detail::check(dinof_model_get_info(handle_, &c));
        ModelInfo i;
        i.name = c.name;
        i.channels = c.channels;
        i.height = c.height;
        i.width = c.width;
        i.classes = c.classes;
        i.image_len = static_cast<size_t>(c.image_len);
        i.rgba8_len = static_cast<size_t>(c.rgba8_len);
        i.sde = c.sde;
        i.t_m.assign(c.t_m, c.t_m + c.t_m_count);
        i.has_flow_start = c.has_flow_start != 0;
        i.has_prior_start = c.has_prior_start != 0;
        i.gaussian_t_m.assign(c.gaussian_t_m, c.gaussian_t_m + c.gaussian_t_m_count);
        i.has_gaussian_start = c.gaussian_t_m_count > 0;
        i.default_start = c.default_start;
        i.default_t_start = c.default_t_start;
        i.default_steps = c.default_steps;
        i.backend = c.backend;
        for (uint64_t k = 0; k < c.execution_provider_count; k++) i.execution_providers.emplace_back(c.execution_providers[k]);
        i.fell_back = c.fell_back != 0;
        i.threads = c.threads;
        i.sub_batch = c.sub_batch;
        for (uint64_t k = 0; k < c.label_name_count; k++) i.label_names.emplace_back(c.label_names[k]);
        i.has_guidance = c.has_guidance != 0;
        i.default_guidance = c.default_guidance;
        return i;
    }

    /// The label of a class name (ignoring case) or of an index written as text; throws dinof::Error otherwise
    /// (the message lists the valid names).
    int64_t label_index(const std::string& name) const {
        int64_t label = 0;
        detail::check(dinof_model_label_index(handle_, name.c_str(), &label));
        return label;
    }

    /// Labels for class names and/or indices as text, e.g. {"Bag", "sneaker", "0"}.
    std::vector<int64_t> label_indices(const std::vector<std::string>& names) const {
        std::vector<int64_t> out;
        out.reserve(names.size());
        for (const auto& n : names) out.push_back(label_index(n));
        return out;
    }

    /// opts.n images, NCHW floats in [0, 1].
    std::vector<float> sample(const dinof_sample_options& opts, const ProgressFn& progress = {},
                              dinof_sample_report* report = nullptr) const {
        std::vector<float> out(static_cast<size_t>(opts.n) * info_len().first);
        detail::Observer obs{progress, nullptr};
        obs.finish(dinof_sample(handle_, &opts, out.data(), out.size(), obs.c_fn(), obs.user(), report));
        return out;
    }

    /// opts.n images as RGBA8, n × H × W × 4 bytes.
    std::vector<uint8_t> sample_rgba8(const dinof_sample_options& opts, const ProgressFn& progress = {},
                                      dinof_sample_report* report = nullptr) const {
        std::vector<uint8_t> out(static_cast<size_t>(opts.n) * info_len().second);
        detail::Observer obs{progress, nullptr};
        obs.finish(dinof_sample_rgba8(handle_, &opts, out.data(), out.size(), obs.c_fn(), obs.user(), report));
        return out;
    }

    /// Starts sampling on a background thread; see dinof::Job.
    Job start(const dinof_sample_options& opts, ProgressFn progress = {}) const;

private:
    /// Floats and RGBA8 bytes per image.
    std::pair<size_t, size_t> info_len() const {
        dinof_model_info c{};
        c.struct_size = sizeof c;
        detail::check(dinof_model_get_info(handle_, &c));
        return {static_cast<size_t>(c.image_len), static_cast<size_t>(c.rgba8_len)};
    }

    dinof_model* handle_ = nullptr;
};

/// A background sampling run. Poll progress()/done() from a game loop, or wait(); then result().
class Job {
public:
    Job(Job&& o) noexcept
        : handle_(std::exchange(o.handle_, nullptr)), observer_(std::move(o.observer_)), n_(o.n_), lens_(o.lens_) {}
    Job& operator=(Job&& o) noexcept {
        if (this != &o) {
            (void)dinof_job_free(handle_);  // before the observer: no callback after this returns
            handle_ = std::exchange(o.handle_, nullptr);
            observer_ = std::move(o.observer_);
            n_ = o.n_;
            lens_ = o.lens_;
        }
        return *this;
    }
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;
    ~Job() { (void)dinof_job_free(handle_); }

    dinof_job* get() const noexcept { return handle_; }

    dinof_progress progress() const {
        dinof_progress p{};
        p.struct_size = sizeof p;
        detail::check(dinof_job_progress(handle_, &p));
        return p;
    }

    /// Waits up to `timeout` for the job to end; true when it ended successfully, false on timeout. Throws the
    /// job's error (dinof::Error, or the progress callback's exception) when it failed or was cancelled.
    bool wait(std::chrono::milliseconds timeout) const {
        dinof_status s = dinof_job_wait(handle_, static_cast<int64_t>(timeout.count()));
        if (s == DINOF_STATUS_TIMEOUT) return false;
        finish(s);
        return true;
    }
    /// Waits until the job ends; throws as wait(timeout).
    void wait() const { finish(dinof_job_wait(handle_, -1)); }
    /// True once the job has ended (without throwing).
    bool done() const { return dinof_job_wait(handle_, 0) != DINOF_STATUS_TIMEOUT; }

    void cancel() const { detail::check(dinof_job_cancel(handle_)); }

    /// The images (waits for the job first).
    std::vector<float> result() const {
        wait();
        std::vector<float> out(n_ * lens_.first);
        detail::check(dinof_job_result(handle_, out.data(), out.size()));
        return out;
    }
    std::vector<uint8_t> result_rgba8() const {
        wait();
        std::vector<uint8_t> out(n_ * lens_.second);
        detail::check(dinof_job_result_rgba8(handle_, out.data(), out.size()));
        return out;
    }
    dinof_sample_report report() const {
        wait();
        dinof_sample_report r{};
        r.struct_size = sizeof r;
        detail::check(dinof_job_report(handle_, &r));
        return r;
    }

private:
    friend class Model;
    Job() = default;

    void finish(dinof_status s) const {
        if (observer_) {
            observer_->finish(s);
        } else {
            detail::check(s);  // a moved-from job: the C API reports the NULL handle
        }
    }

    dinof_job* handle_ = nullptr;
    // On the heap so its address stays fixed while the job's thread calls it, whatever happens to this object.
    std::unique_ptr<detail::Observer> observer_;
    size_t n_ = 0;
    std::pair<size_t, size_t> lens_{0, 0};
};

inline Job Model::start(const dinof_sample_options& opts, ProgressFn progress) const {
    Job job;
    job.observer_ = std::make_unique<detail::Observer>(detail::Observer{std::move(progress), nullptr});
    job.n_ = static_cast<size_t>(opts.n);
    job.lens_ = info_len();
    detail::check(dinof_job_start(handle_, &opts, job.observer_->c_fn(), job.observer_->user(), &job.handle_));
    return job;
}

}  // namespace dinof

#endif  // DINOF_HPP
