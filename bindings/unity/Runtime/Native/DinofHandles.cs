// SafeHandles for dinof_model* and dinof_job*: the runtime frees them exactly once (Dispose or, when a script forgets
// it, the finalizer) and never while a P/Invoke call is using them (SafeHandle reference counting), which is what
// dinof.h asks for ("no other thread may use this handle concurrently with or after" the free).
using System;
using System.Runtime.InteropServices;

namespace Dinof.Native
{
    /// <summary>Owns a dinof_model*. Released with dinof_model_free; running jobs keep the model itself alive.</summary>
    public sealed class DinofModelHandle : SafeHandle
    {
        // The marshaller creates the instance for `out DinofModelHandle` and sets the handle atomically.
        public DinofModelHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            DinofNative.dinof_model_free(handle);
            return true;
        }
    }

    /// <summary>
    /// Owns a dinof_job* and the GCHandle its progress callback receives as user data. dinof_job_free returns at
    /// once (a running job is cancelled and detached) and guarantees the callback is not called afterwards, so the
    /// GCHandle is freed right after it.
    /// </summary>
    public sealed class DinofJobHandle : SafeHandle
    {
        IntPtr user;

        public DinofJobHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Hands the callback's GCHandle (as IntPtr) to this handle, which frees it after the job.</summary>
        internal void AdoptUserData(IntPtr gcHandle) { user = gcHandle; }

        protected override bool ReleaseHandle()
        {
            // Never DINOF_STATUS_CALLED_FROM_CALLBACK here: the wrapper's callback does not dispose jobs.
            DinofNative.dinof_job_free(handle);
            if (user != IntPtr.Zero) { GCHandle.FromIntPtr(user).Free(); user = IntPtr.Zero; }
            return true;
        }
    }
}
