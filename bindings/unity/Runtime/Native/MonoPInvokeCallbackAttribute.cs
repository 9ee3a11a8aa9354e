// [MonoPInvokeCallback] marks static methods that native code calls back (IL2CPP and Mono AOT need it to generate
// reverse P/Invoke wrappers). Unity ships the attribute in AOT; outside Unity (the Mono tests) we declare our own:
// IL2CPP matches it by name, so this definition would do in a player too.
#if !UNITY_5_3_OR_NEWER
using System;

namespace AOT
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }
        public Type DelegateType { get; private set; }
    }
}
#endif
