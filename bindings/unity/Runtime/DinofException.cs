// A failed dinof call: the ABI status and the library's own explanation (dinof_last_error_copy /
// dinof_job_error_message), which already names the kind of error.
using System;
using Dinof.Native;

namespace Dinof
{
    public class DinofException : Exception
    {
        public DinofException(DinofStatus status, string message)
            : base(string.IsNullOrEmpty(message) ? StatusName(status) : message)
        {
            Status = status;
        }

        /// <summary>The dinof_status the library returned.</summary>
        public DinofStatus Status { get; private set; }

        /// <summary>The library's short name of a status ("invalid argument", ...).</summary>
        public static string StatusName(DinofStatus status)
        {
            return Utf8.FromNative(DinofNative.dinof_status_string((int)status));
        }

        /// <summary>
        /// Throws for a failed status, with this thread's last error message; does nothing for OK. For code that
        /// calls DinofNative directly: call it right after the call, on the same thread.
        /// </summary>
        public static void ThrowIfFailed(int status)
        {
            if (status != DinofNative.DINOF_STATUS_OK) throw new DinofException((DinofStatus)status, LastErrorMessage());
        }

        /// <summary>The calling thread's last dinof error message ("" after a success).</summary>
        public static string LastErrorMessage()
        {
            // Two calls: the size, then the text. dinof_last_error_copy leaves the message in place, so both see it.
            UIntPtr needed;
            DinofNative.dinof_last_error_copy(null, UIntPtr.Zero, out needed);
            if ((ulong)needed <= 1) return "";
            var buf = new byte[(int)(ulong)needed];
            DinofNative.dinof_last_error_copy(buf, (UIntPtr)(ulong)buf.Length, out needed);
            return Utf8.FromBuffer(buf);
        }
    }
}
