// Process-wide facts and controls: versions, the ABI/layout check run before the first model is loaded, the log
// callback and dinof_shutdown (call it before unloading the library: editor domain reload, hot reload).
using System;
using System.Runtime.InteropServices;
using AOT;
using Dinof.Native;

namespace Dinof
{
    public static class DinofLibrary
    {
        static readonly object gate = new object();
        static bool verified;

        public static string Version { get { return Utf8.FromNative(DinofNative.dinof_version_string()); } }

        /// <summary>The ABI version of the loaded library; this binding is written for DinofNative.DINOF_ABI_VERSION.</summary>
        public static uint AbiVersion { get { return DinofNative.dinof_abi_version(); } }

        /// <summary>
        /// Checks once per process that the native library speaks this binding's ABI and that every struct this
        /// binding declares has the library's size and field offsets (dinof_struct_layout). Throws DinofException
        /// (status StructSize) naming the first difference. DinofModel.Load calls it.
        /// </summary>
        public static void EnsureCompatible()
        {
            lock (gate)
            {
                if (verified) return;
                if (AbiVersion != DinofNative.DINOF_ABI_VERSION)
                    throw new DinofException(DinofStatus.StructSize, string.Format(
                        "the dinof library has ABI version {0} (library {1}) but this binding needs {2}",
                        AbiVersion, Version, DinofNative.DINOF_ABI_VERSION));
                string problem = LayoutProblem();
                if (problem != null) throw new DinofException(DinofStatus.StructSize, problem);
                verified = true;
            }
        }

        /// <summary>The first difference between this binding's structs and the library's, or null.</summary>
        public static string LayoutProblem()
        {
            var structs = new[] {
                Tuple.Create(DinofNative.DINOF_STRUCT_LOAD_OPTIONS, typeof(dinof_load_options)),
                Tuple.Create(DinofNative.DINOF_STRUCT_SAMPLE_OPTIONS, typeof(dinof_sample_options)),
                Tuple.Create(DinofNative.DINOF_STRUCT_MODEL_INFO, typeof(dinof_model_info)),
                Tuple.Create(DinofNative.DINOF_STRUCT_SAMPLE_REPORT, typeof(dinof_sample_report)),
                Tuple.Create(DinofNative.DINOF_STRUCT_PROGRESS, typeof(dinof_progress)),
                Tuple.Create(DinofNative.DINOF_STRUCT_BLOB, typeof(dinof_blob)),
            };
            foreach (var s in structs)
            {
                uint offset, size;
                if (DinofNative.dinof_struct_layout(s.Item1, null, out offset, out size) != 0)
                    return s.Item2.Name + ": " + DinofException.LastErrorMessage();
                int mine = Marshal.SizeOf(s.Item2);
                if (mine != size) return string.Format("{0}: {1} bytes here, {2} in the library", s.Item2.Name, mine, size);
                foreach (var f in s.Item2.GetFields())
                {
                    if (DinofNative.dinof_struct_layout(s.Item1, Utf8.ToNative(f.Name), out offset, out size) != 0)
                        return string.Format("{0}.{1}: {2}", s.Item2.Name, f.Name, DinofException.LastErrorMessage());
                    int at = (int)Marshal.OffsetOf(s.Item2, f.Name);
                    int width = Marshal.SizeOf(f.FieldType == typeof(IntPtr) ? typeof(IntPtr) : f.FieldType);
                    if (at != offset || width != size)
                        return string.Format("{0}.{1}: offset {2} size {3} here, offset {4} size {5} in the library",
                            s.Item2.Name, f.Name, at, width, offset, size);
                }
            }
            return null;
        }

        static Action<DinofLogLevel, string> logHandler;
        // One delegate for the process, kept alive by this static field for as long as the library may call it.
        static readonly dinof_log_fn logThunk = OnLog;

        /// <summary>
        /// Sends the library's messages up to maxLevel to handler (null removes it). The handler runs on whichever
        /// thread logs (a job's, a worker's), possibly concurrently: it must be thread-safe and hand anything for
        /// the UI to the main thread itself. An exception it throws is caught here (it must not unwind through the
        /// library) and kept in LastLogHandlerException.
        /// </summary>
        public static void SetLogHandler(Action<DinofLogLevel, string> handler, DinofLogLevel maxLevel)
        {
            lock (gate)
            {
                logHandler = handler;
                DinofException.ThrowIfFailed(handler == null
                    ? DinofNative.dinof_set_log_callback(null, IntPtr.Zero, (int)maxLevel)
                    : DinofNative.dinof_set_log_callback(logThunk, IntPtr.Zero, (int)maxLevel));
            }
        }

        /// <summary>The last exception a log handler threw (caught at the callback boundary), or null.</summary>
        public static Exception LastLogHandlerException { get; private set; }

        [MonoPInvokeCallback(typeof(dinof_log_fn))]
        static void OnLog(int level, IntPtr message, IntPtr user)
        {
            try
            {
                var h = logHandler;
                if (h != null) h((DinofLogLevel)level, Utf8.FromNative(message));
            }
            catch (Exception e)
            {
                LastLogHandlerException = e;
            }
        }

        /// <summary>
        /// dinof_shutdown: joins every thread the library started (detached jobs, pools of freed models). Returns
        /// true when none is left, false on timeout; throws DinofException (Busy) while models or jobs are alive.
        /// Call after disposing every model and job, before the library is unloaded.
        /// </summary>
        public static bool Shutdown(long timeoutMs)
        {
            int s = DinofNative.dinof_shutdown(timeoutMs);
            if (s == DinofNative.DINOF_STATUS_TIMEOUT) return false;
            DinofException.ThrowIfFailed(s);
            return true;
        }
    }
}
