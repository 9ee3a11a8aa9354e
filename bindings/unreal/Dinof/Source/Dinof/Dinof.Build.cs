// The plugin's runtime module. Not compiled here (no Unreal on the test machine); its engine-independent part,
// Public/DinofCore.h, is compiled and tested with g++ by scripts/test-engines.sh.
using UnrealBuildTool;

public class Dinof : ModuleRules
{
    public Dinof(ReadOnlyTargetRules Target) : base(Target)
    {
        PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
        // dinof.hpp reports errors with exceptions; DinofCore.h catches every one of them at its boundary, so no
        // exception reaches engine code. The module itself needs them enabled to compile the try/catch.
        bEnableExceptions = true;

        PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine", "DeveloperSettings", "DinofLibrary" });
        PrivateDependencyModuleNames.AddRange(new string[] { "Projects" });
    }
}
