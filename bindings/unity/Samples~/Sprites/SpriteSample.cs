// Sample: sprites of a chosen category from a class-conditional RGBA model (issue 21's sprite bundle), one at a time
// into a Texture2D with alpha, or N at once into a sprite atlas with a Sprite per image.
// Setup: copy a bundle folder to Assets/StreamingAssets/dinof/sprites (onnx/models/sprites from the dinof
// repository), create a Quad with an unlit transparent material, add this component to it, press Play. The model's
// category names (terrain, furniture, vehicle, monster, character, item, field for the sprite bundle) become
// buttons; the last result is shown on the quad and kept in `Texture` / `Atlas` and `Sprites`.
using System.IO;
using System.Threading.Tasks;
using Dinof;
using Dinof.Unity;
using UnityEngine;

public sealed class SpriteSample : MonoBehaviour
{
    public string bundle = "dinof/sprites";
    [Tooltip("Sprites per atlas")]
    public int atlasCount = 16;
    [Tooltip("Atlas width in sprites")]
    public int atlasColumns = 4;

    public Texture2D Texture { get; private set; }
    public Texture2D Atlas { get; private set; }
    public Sprite[] Sprites { get; private set; }

    DinofModel model;
    Task<DinofModel> loading;
    DinofJob job;
    bool jobIsAtlas;
    string category = "";

    void OnEnable()
    {
        string path = Path.Combine(Application.streamingAssetsPath, bundle);
        loading = Task.Run(() => DinofModel.Load(path));  // compiling the networks can take a while
    }

    /// <summary>Starts `count` sprites of `label` (one of the model's names); a running job is cancelled first.</summary>
    public void Generate(string label, int count)
    {
        if (model == null) return;
        if (job != null) job.Dispose();  // returns at once: a running job is cancelled and detached
        job = null;
        try
        {
            long index = model.LabelIndex(label);  // a wrong name is refused with the library's message
            var labels = new long[count];
            for (int k = 0; k < count; k++) labels[k] = index;
            job = model.Start(new SampleOptions { Count = (uint)count, Labels = labels });
            jobIsAtlas = count > 1;
            category = label;
        }
        catch (DinofException e)
        {
            Debug.LogError("dinof: " + e.Message + " (" + e.Status + ")", this);
        }
    }

    void Update()
    {
        if (loading != null && loading.IsCompleted)
        {
            if (loading.IsFaulted) Debug.LogError("dinof: cannot load " + bundle + ": " + loading.Exception.GetBaseException().Message, this);
            else model = loading.Result;
            loading = null;
        }
        if (job == null || !job.IsDone) return;
        try
        {
            if (jobIsAtlas)
            {
                Sprite[] sprites;
                Atlas = DinofTextures.AtlasFromJob(job, Mathf.Max(1, atlasColumns), out sprites);
                Sprites = sprites;
                Show(Atlas);
                Debug.Log("dinof: an atlas of " + sprites.Length + " " + category + " sprites");
            }
            else
            {
                var info = job.ModelInfo;  // straight alpha, bottom row first as Unity wants it
                Texture = DinofTextures.FromRgba8(job.GetResultRgba8(RowOrder.BottomUp), info.Width, info.Height, Texture);
                Show(Texture);
            }
        }
        catch (DinofException e)
        {
            if (e.Status != DinofStatus.Cancelled) Debug.LogError("dinof: " + e.Message + " (" + e.Status + ")", this);
        }
        finally
        {
            job.Dispose();
            job = null;
        }
    }

    void Show(Texture2D texture)
    {
        var r = GetComponent<Renderer>();
        if (r != null) r.material.mainTexture = texture;
    }

    void OnGUI()
    {
        GUILayout.BeginArea(new Rect(10, 10, 320, 400));
        if (model == null)
        {
            GUILayout.Label(loading != null ? "Loading " + bundle + "..." : "No model (see the console)");
        }
        else if (job != null)
        {
            GUILayout.Label("Generating " + category + ": " + Mathf.RoundToInt((float)job.Progress * 100) + "%");
            if (GUILayout.Button("Cancel")) job.Cancel();
        }
        else
        {
            var names = model.Info.LabelNames;
            if (names == null || names.Length == 0) GUILayout.Label(bundle + " has no categories: use DinofGenerator");
            else
                foreach (var name in names)
                {
                    if (GUILayout.Button(name)) Generate(name, 1);
                    if (GUILayout.Button(name + " x" + atlasCount + " (atlas)")) Generate(name, Mathf.Max(1, atlasCount));
                }
        }
        GUILayout.EndArea();
    }

    void OnDisable()
    {
        if (job != null) job.Dispose();
        job = null;
        if (loading != null) loading.ContinueWith(t => { if (!t.IsFaulted) t.Result.Dispose(); });
        loading = null;
        if (model != null) model.Dispose();
        model = null;
    }
}
