// Unity-only: before the editor reloads scripts, free what scripts forgot (finalizers) and join dinof's threads, so
// no detached job thread outlives the managed code it was started from. The native library itself stays loaded for
// the editor's lifetime ([DllImport] libraries are never unloaded). Compiled against API stubs, never run here (no Unity).
using System;
using Dinof;
using UnityEditor;
using UnityEngine;

namespace Dinof.Editor
{
    [InitializeOnLoad]
    static class DinofDomainReload
    {
        static DinofDomainReload()
        {
            AssemblyReloadEvents.beforeAssemblyReload += () =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    if (!DinofLibrary.Shutdown(2000)) Debug.LogWarning("dinof: threads still running after 2 s at script reload");
                }
                catch (DinofException e)
                {
                    // Busy: a model or job is still referenced (a static field, a component kept alive).
                    Debug.LogWarning("dinof: " + e.Message);
                }
                catch (DllNotFoundException)
                {
                    // The native library was never loaded (no Plugins binary yet): nothing to join.
                }
            };
        }
    }
}
