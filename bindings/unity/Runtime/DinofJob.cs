// A sampling run on the library's own thread, made for game loops: poll Progress / IsDone every frame, Cancel() from
// anywhere, then GetResultRgba8. Dispose returns at once, also while the job runs (OnDisable / OnDestroy): the
// library cancels and detaches it. A job a script forgets is freed by its SafeHandle's finalizer.
using System;
using System.Runtime.InteropServices;
using Dinof.Native;

namespace Dinof
{
    public sealed class DinofJob : IDisposable
    {
        readonly DinofJobHandle handle;
        readonly Observer observer;
        readonly ModelInfo info;
        readonly int count;

        internal DinofJob(DinofJobHandle handle, Observer observer, ModelInfo info, int count)
        {
            this.handle = handle;
            this.observer = observer;
            this.info = info;
            this.count = count;
        }

        /// <summary>Number of images and the model's facts (shape, RGBA8 size) the job was started with.</summary>
        public int Count { get { return count; } }
        public ModelInfo ModelInfo { get { return info; } }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>The raw handle, for calling DinofNative directly.</summary>
        public DinofJobHandle Handle { get { Live(); return handle; } }

        /// <summary>Cancels (when still running) and frees the job; returns at once.</summary>
        public void Dispose() { handle.Dispose(); }

        void Live()
        {
            if (handle.IsClosed || handle.IsInvalid) throw new ObjectDisposedException("DinofJob");
        }

        /// <summary>Phase, fraction, step and images done: cheap, meant for every frame.</summary>
        public DinofProgress ProgressInfo
        {
            get
            {
                Live();
                var p = new dinof_progress();
                p.struct_size = (uint)Marshal.SizeOf(typeof(dinof_progress));
                DinofException.ThrowIfFailed(DinofNative.dinof_job_progress(handle, ref p));
                return DinofProgress.From(p);
            }
        }

        /// <summary>Overall fraction done, in [0, 1].</summary>
        public double Progress { get { return ProgressInfo.Fraction; } }

        /// <summary>True once the job has ended, successfully or not (never throws for a failed job).</summary>
        public bool IsDone
        {
            get
            {
                Live();
                return DinofNative.dinof_job_wait(handle, 0) != DinofNative.DINOF_STATUS_TIMEOUT;
            }
        }

        /// <summary>The job's status: Timeout while it runs, then Ok, Cancelled or the error that stopped it.</summary>
        public DinofStatus Status
        {
            get
            {
                Live();
                return (DinofStatus)DinofNative.dinof_job_wait(handle, 0);
            }
        }

        /// <summary>Asks the job to stop; returns at once, from any thread. It ends with status Cancelled.</summary>
        public void Cancel()
        {
            Live();
            DinofException.ThrowIfFailed(DinofNative.dinof_job_cancel(handle));
        }

        /// <summary>
        /// Waits up to timeoutMs (negative: forever) for the end. True when the job ended successfully, false while
        /// it still runs; throws its failure: DinofException (Cancelled, NonFinite, ...) or the progress callback's
        /// exception.
        /// </summary>
        public bool Wait(int timeoutMs = -1)
        {
            Live();
            int s = DinofNative.dinof_job_wait(handle, timeoutMs);
            if (s == DinofNative.DINOF_STATUS_TIMEOUT) return false;
            observer.Finish(s, s == DinofNative.DINOF_STATUS_OK ? null : ErrorMessage());
            return true;
        }

        /// <summary>The job's failure message, readable from any thread ("" while it runs or after a success).</summary>
        public string ErrorMessage()
        {
            Live();
            UIntPtr needed;
            DinofNative.dinof_job_error_message(handle, null, UIntPtr.Zero, out needed);
            if ((ulong)needed <= 1) return "";
            var buf = new byte[(int)(ulong)needed];
            DinofNative.dinof_job_error_message(handle, buf, (UIntPtr)(ulong)buf.Length, out needed);
            return Utf8.FromBuffer(buf);
        }

        /// <summary>The images as floats (waits for the end first; throws the job's failure).</summary>
        public float[] GetResult()
        {
            Wait();
            var outBuf = new float[checked(count * info.ImageLength)];
            DinofException.ThrowIfFailed(DinofNative.dinof_job_result(handle, outBuf, (UIntPtr)(ulong)outBuf.Length));
            return outBuf;
        }

        /// <summary>The images as RGBA8 (Count x H x W x 4), rows in the requested order (Unity: BottomUp).</summary>
        public byte[] GetResultRgba8(RowOrder order = RowOrder.TopDown)
        {
            Wait();
            var outBuf = new byte[checked(count * info.Rgba8Length)];
            DinofException.ThrowIfFailed(DinofNative.dinof_job_result_rgba8(handle, outBuf, (UIntPtr)(ulong)outBuf.Length));
            if (order == RowOrder.BottomUp) DinofImage.FlipRows(outBuf, info.Width, info.Height, count);
            return outBuf;
        }

        public SampleReport GetReport()
        {
            Wait();
            var r = new dinof_sample_report();
            r.struct_size = (uint)Marshal.SizeOf(typeof(dinof_sample_report));
            DinofException.ThrowIfFailed(DinofNative.dinof_job_report(handle, ref r));
            return SampleReport.From(r);
        }
    }
}
