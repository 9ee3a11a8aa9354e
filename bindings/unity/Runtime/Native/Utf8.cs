// UTF-8 strings across the ABI, by hand: the ANSI default of string marshalling is wrong on Windows, and
// UnmanagedType.LPUTF8Str / Marshal.PtrToStringUTF8 are not available on every Unity scripting backend.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Dinof.Native
{
    public static class Utf8
    {
        /// <summary>The string's UTF-8 bytes plus a NUL terminator (null stays null: a NULL pointer).</summary>
        public static byte[] ToNative(string s)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("a string passed to dinof may not contain NUL characters");
            int n = Encoding.UTF8.GetByteCount(s);
            var bytes = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Reads a NUL-terminated UTF-8 string owned by the library (NULL gives null).</summary>
        public static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, len);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Decodes a NUL-terminated buffer filled by a dinof *_copy function.</summary>
        public static string FromBuffer(byte[] buf)
        {
            int len = Array.IndexOf(buf, (byte)0);
            return Encoding.UTF8.GetString(buf, 0, len < 0 ? buf.Length : len);
        }
    }
}
