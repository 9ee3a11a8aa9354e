// External module for the dinof native library (Epic's ThirdPartyLibrary template layout). The files come from
// scripts/package-unreal.sh: headers in include/, import libraries in lib/<Platform>/, shared libraries in
// <Plugin>/Binaries/ThirdParty/DinofLibrary/<Platform>/. Not compiled here (no Unreal on the test machine).
using System.IO;
using UnrealBuildTool;

public class DinofLibrary : ModuleRules
{
    public DinofLibrary(ReadOnlyTargetRules Target) : base(Target)
    {
        Type = ModuleType.External;
        PublicSystemIncludePaths.Add(Path.Combine(ModuleDirectory, "include"));

        string binaries = "$(PluginDir)/Binaries/ThirdParty/DinofLibrary/" + Target.Platform.ToString();
        if (Target.Platform == UnrealTargetPlatform.Win64)
        {
            // Link against the import library, load the DLL ourselves from the plugin (FDinofModule::StartupModule),
            // and stage it next to the packaged game.
            PublicAdditionalLibraries.Add(Path.Combine(ModuleDirectory, "lib", "Win64", "dinof.dll.lib"));
            PublicDelayLoadDLLs.Add("dinof.dll");
            RuntimeDependencies.Add(binaries + "/dinof.dll");
            PublicDefinitions.Add("DINOF_LIBRARY_FILE=TEXT(\"dinof.dll\")");
        }
        else if (Target.Platform == UnrealTargetPlatform.Mac)
        {
            string dylib = Path.Combine(PluginDirectory, "Binaries", "ThirdParty", "DinofLibrary", "Mac", "libdinof.dylib");
            PublicAdditionalLibraries.Add(dylib);
            PublicDelayLoadDLLs.Add(dylib);
            RuntimeDependencies.Add(binaries + "/libdinof.dylib");
            PublicDefinitions.Add("DINOF_LIBRARY_FILE=TEXT(\"libdinof.dylib\")");
        }
        else if (Target.Platform == UnrealTargetPlatform.Linux)
        {
            // No delay-loading on Linux: the dynamic loader resolves libdinof.so when the module loads (rpath to the
            // staged copy); StartupModule still reports a missing or mismatched library.
            string so = Path.Combine(PluginDirectory, "Binaries", "ThirdParty", "DinofLibrary", "Linux", "libdinof.so");
            PublicAdditionalLibraries.Add(so);
            PublicRuntimeLibraryPaths.Add(Path.GetDirectoryName(so));
            RuntimeDependencies.Add(binaries + "/libdinof.so");
            PublicDefinitions.Add("DINOF_LIBRARY_FILE=TEXT(\"libdinof.so\")");
        }
        else
        {
            PublicDefinitions.Add("DINOF_LIBRARY_FILE=TEXT(\"\")");
        }
    }
}
