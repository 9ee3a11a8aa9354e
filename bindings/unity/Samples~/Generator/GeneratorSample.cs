// Sample: a DinofGenerator with an on-screen progress bar and buttons (IMGUI, so no UI package is needed).
// Setup: put a bundle folder at Assets/StreamingAssets/dinof/mnist (e.g. onnx/models/mnist from the dinof
// repository), create a Quad, add DinofGenerator and this component to it, press Play.
using Dinof.Unity;
using UnityEngine;

[RequireComponent(typeof(DinofGenerator))]
public sealed class GeneratorSample : MonoBehaviour
{
    DinofGenerator generator;

    void Awake()
    {
        generator = GetComponent<DinofGenerator>();
        generator.target = GetComponent<Renderer>();
        generator.onGenerated.AddListener(t => Debug.Log("dinof: generated a " + t.width + "x" + t.height + " image"));
    }

    void OnGUI()
    {
        GUILayout.BeginArea(new Rect(10, 10, 260, 120));
        if (generator.IsGenerating)
        {
            GUILayout.Label("Generating: " + Mathf.RoundToInt(generator.Progress * 100) + "%");
            GUILayout.HorizontalSlider(generator.Progress, 0f, 1f);
            if (GUILayout.Button("Cancel")) generator.Cancel();
        }
        else if (GUILayout.Button("Generate"))
        {
            generator.Generate();
        }
        GUILayout.EndArea();
    }
}
