// A loaded model: immutable, shared by any number of threads. Dispose it when done; a model a script forgets is
// freed by its SafeHandle's finalizer. Jobs keep the native model alive (the library counts references), so
// disposing a model while its jobs run is fine: they finish and their results stay readable.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using AOT;
using Dinof.Native;

namespace Dinof
{
    public sealed class DinofModel : IDisposable
    {
        readonly DinofModelHandle handle;

        DinofModel(DinofModelHandle handle)
        {
            this.handle = handle;
            var c = new dinof_model_info();
            c.struct_size = (uint)Marshal.SizeOf(typeof(dinof_model_info));
            DinofException.ThrowIfFailed(DinofNative.dinof_model_get_info(handle, ref c));
            // The strings and arrays belong to the model: copied now, while it is certainly alive.
            Info = ModelInfo.From(c);
        }

        /// <summary>Loads a bundle directory (dinof.json + ONNX files).</summary>
        public static DinofModel Load(string path, LoadOptions options = null)
        {
            if (path == null) throw new ArgumentNullException("path");
            DinofLibrary.EnsureCompatible();
            byte[] p = Utf8.ToNative(path);
            return (options ?? new LoadOptions()).With(o =>
            {
                DinofModelHandle h;
                int s = DinofNative.dinof_model_load(p, ref o, out h);
                return Wrap(s, h);
            });
        }

        /// <summary>
        /// Loads a bundle from memory (Android StreamingAssets inside the APK, asset bundles): dinof.json's bytes
        /// and every file it names, by name. The bytes are read during the call only.
        /// </summary>
        public static DinofModel LoadFromMemory(byte[] manifest, IDictionary<string, byte[]> files, LoadOptions options = null)
        {
            if (manifest == null) throw new ArgumentNullException("manifest");
            if (files == null) throw new ArgumentNullException("files");
            DinofLibrary.EnsureCompatible();
            var pins = new List<GCHandle>();
            try
            {
                Func<object, IntPtr> pin = b => { var g = GCHandle.Alloc(b, GCHandleType.Pinned); pins.Add(g); return g.AddrOfPinnedObject(); };
                var blobs = new dinof_blob[files.Count];
                int k = 0;
                foreach (var f in files)
                {
                    blobs[k].name = pin(Utf8.ToNative(f.Key));
                    blobs[k].data = f.Value.Length == 0 ? IntPtr.Zero : pin(f.Value);
                    blobs[k].size = (ulong)f.Value.Length;
                    k++;
                }
                IntPtr m = manifest.Length == 0 ? IntPtr.Zero : pin(manifest);
                return (options ?? new LoadOptions()).With(o =>
                {
                    DinofModelHandle h;
                    int s = DinofNative.dinof_model_load_from_memory(m, (ulong)manifest.Length, blobs, (ulong)blobs.Length, ref o, out h);
                    return Wrap(s, h);
                });
            }
            finally
            {
                foreach (var g in pins) g.Free();
            }
        }

        static DinofModel Wrap(int status, DinofModelHandle h)
        {
            if (status != DinofNative.DINOF_STATUS_OK)
            {
                var e = new DinofException((DinofStatus)status, DinofException.LastErrorMessage());
                h.Dispose();  // NULL on failure; disposing it frees nothing
                throw e;
            }
            return new DinofModel(h);
        }

        public ModelInfo Info { get; private set; }

        /// <summary>True once Dispose has run.</summary>
        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>The raw handle, for calling DinofNative directly.</summary>
        public DinofModelHandle Handle { get { Live(); return handle; } }

        public void Dispose() { handle.Dispose(); }

        void Live()
        {
            if (handle.IsClosed || handle.IsInvalid) throw new ObjectDisposedException("DinofModel");
        }

        /// <summary>
        /// The label of a class given as text: one of Info.LabelNames (ignoring case) or an index written in decimal
        /// ("3"). An unknown name throws DinofException (InvalidArgument) whose message lists the valid names.
        /// </summary>
        public long LabelIndex(string name)
        {
            if (name == null) throw new ArgumentNullException("name");
            Live();
            long label;
            DinofException.ThrowIfFailed(DinofNative.dinof_model_label_index(handle, Utf8.ToNative(name), out label));
            return label;
        }

        /// <summary>Labels for several class names and/or indices as text, e.g. for SampleOptions.Labels.</summary>
        public long[] LabelIndices(params string[] names)
        {
            if (names == null) throw new ArgumentNullException("names");
            var labels = new long[names.Length];
            for (int k = 0; k < names.Length; k++) labels[k] = LabelIndex(names[k]);
            return labels;
        }

        /// <summary>
        /// Generates options.Count images on this thread (it blocks: use Start or SampleRgba8Async from a game's
        /// main thread): Count x C x H x W floats, NCHW, pixels in [0, 1]. onProgress runs on this thread and
        /// returns false to cancel (DinofException, status Cancelled); an exception it throws cancels the run and
        /// is rethrown here unchanged.
        /// </summary>
        public float[] Sample(SampleOptions options, Func<DinofProgress, bool> onProgress = null)
        {
            SampleReport r;
            return Sample(options, out r, onProgress);
        }

        public float[] Sample(SampleOptions options, out SampleReport report, Func<DinofProgress, bool> onProgress = null)
        {
            Live();
            var rep = NewReport();
            var o = options ?? new SampleOptions();
            var outBuf = new float[checked((long)o.Count * Info.ImageLength)];
            var obs = new Observer(onProgress);
            Run(obs, user => o.With(n => DinofNative.dinof_sample(handle, ref n, outBuf, (UIntPtr)(ulong)outBuf.Length,
                obs.Fn, user, ref rep)));
            report = SampleReport.From(rep);
            return outBuf;
        }

        /// <summary>Like Sample, as RGBA8 (Count x H x W x 4 bytes), rows in the requested order (Unity: BottomUp).</summary>
        public byte[] SampleRgba8(SampleOptions options, RowOrder order = RowOrder.TopDown, Func<DinofProgress, bool> onProgress = null)
        {
            SampleReport r;
            return SampleRgba8(options, order, out r, onProgress);
        }

        public byte[] SampleRgba8(SampleOptions options, RowOrder order, out SampleReport report, Func<DinofProgress, bool> onProgress = null)
        {
            Live();
            var rep = NewReport();
            var o = options ?? new SampleOptions();
            var outBuf = new byte[checked((long)o.Count * Info.Rgba8Length)];
            var obs = new Observer(onProgress);
            Run(obs, user => o.With(n => DinofNative.dinof_sample_rgba8(handle, ref n, outBuf, (UIntPtr)(ulong)outBuf.Length,
                obs.Fn, user, ref rep)));
            report = SampleReport.From(rep);
            if (order == RowOrder.BottomUp) DinofImage.FlipRows(outBuf, Info.Width, Info.Height, (int)o.Count);
            return outBuf;
        }

        /// <summary>
        /// Starts sampling on the library's own thread and returns at once (every option and memory error is thrown
        /// here). Poll the job each frame (Progress, IsDone), then read its result. onProgress, if any, runs on the
        /// job's thread: it must not touch engine objects; an exception it throws cancels the job and is rethrown
        /// by Wait / GetResult on the caller's thread.
        /// </summary>
        public DinofJob Start(SampleOptions options, Func<DinofProgress, bool> onProgress = null)
        {
            Live();
            var o = options ?? new SampleOptions();
            var obs = new Observer(onProgress);
            // The GCHandle roots only the observer (not the job), so a forgotten job is still finalized; the job
            // handle frees it after dinof_job_free, which guarantees no callback afterwards.
            var gch = onProgress == null ? default(GCHandle) : GCHandle.Alloc(obs);
            IntPtr user = gch.IsAllocated ? GCHandle.ToIntPtr(gch) : IntPtr.Zero;
            DinofJobHandle h = null;
            int s;
            try
            {
                s = o.With(n => { DinofJobHandle j; int st = DinofNative.dinof_job_start(handle, ref n, obs.Fn, user, out j); h = j; return st; });
            }
            catch
            {
                if (gch.IsAllocated) gch.Free();
                throw;
            }
            if (s != DinofNative.DINOF_STATUS_OK)
            {
                var e = new DinofException((DinofStatus)s, DinofException.LastErrorMessage());
                if (h != null) h.Dispose();
                if (gch.IsAllocated) gch.Free();
                throw e;
            }
            h.AdoptUserData(user);
            return new DinofJob(h, obs, Info, (int)o.Count);
        }

        /// <summary>
        /// Samples RGBA8 without blocking the caller: a job polled on a pool thread. progress (e.g. Progress&lt;T&gt;,
        /// which posts to the caller's SynchronizationContext, Unity's main thread included) gets the fraction;
        /// cancelling the token cancels the job (OperationCanceledException).
        /// </summary>
        public Task<byte[]> SampleRgba8Async(SampleOptions options, RowOrder order = RowOrder.TopDown,
            IProgress<double> progress = null, CancellationToken cancel = default(CancellationToken))
        {
            var job = Start(options);
            return Task.Factory.StartNew(() =>
            {
                using (job)
                using (cancel.Register(job.Cancel))
                {
                    while (!job.Wait(50))
                        if (progress != null) progress.Report(job.Progress);
                    if (progress != null) progress.Report(1.0);
                    return job.GetResultRgba8(order);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ContinueWith(t =>
            {
                var e = t.Exception == null ? null : t.Exception.InnerException as DinofException;
                if (e != null && e.Status == DinofStatus.Cancelled && cancel.IsCancellationRequested)
                    throw new OperationCanceledException(cancel);
                return t.GetAwaiter().GetResult();
            }, TaskScheduler.Default);
        }

        static dinof_sample_report NewReport()
        {
            var r = new dinof_sample_report();
            r.struct_size = (uint)Marshal.SizeOf(typeof(dinof_sample_report));
            return r;
        }

        static void Run(Observer obs, Func<IntPtr, int> call)
        {
            var gch = obs.HasCallback ? GCHandle.Alloc(obs) : default(GCHandle);
            int s;
            try
            {
                s = call(gch.IsAllocated ? GCHandle.ToIntPtr(gch) : IntPtr.Zero);
            }
            finally
            {
                if (gch.IsAllocated) gch.Free();
            }
            obs.Finish(s, null);
        }
    }

    /// <summary>Carries a managed progress callback through the C callback and keeps what it threw.</summary>
    internal sealed class Observer
    {
        readonly Func<DinofProgress, bool> fn;
        volatile Exception error;

        // One delegate for the process (a static method: IL2CPP cannot marshal instance delegates).
        static readonly dinof_progress_fn thunk = OnProgress;

        public Observer(Func<DinofProgress, bool> fn) { this.fn = fn; }

        public bool HasCallback { get { return fn != null; } }
        public dinof_progress_fn Fn { get { return fn == null ? null : thunk; } }
        public Exception Error { get { return error; } }

        [MonoPInvokeCallback(typeof(dinof_progress_fn))]
        static int OnProgress(IntPtr progress, IntPtr user)
        {
            var self = (Observer)GCHandle.FromIntPtr(user).Target;
            // Nothing may unwind into the library: an exception cancels the run and is rethrown by Finish.
            try
            {
                var p = (dinof_progress)Marshal.PtrToStructure(progress, typeof(dinof_progress));
                return self.fn(DinofProgress.From(p)) ? 0 : 1;
            }
            catch (Exception e)
            {
                self.error = e;
                return 1;
            }
        }

        /// <summary>After a run: the callback's exception wins over the Cancelled status it caused.</summary>
        public void Finish(int status, string message)
        {
            var e = error;
            if (e != null) ExceptionDispatchInfo.Capture(e).Throw();
            if (status != DinofNative.DINOF_STATUS_OK)
                throw new DinofException((DinofStatus)status, message ?? DinofException.LastErrorMessage());
        }
    }
}
