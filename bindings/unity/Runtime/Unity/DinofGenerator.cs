// Unity-only sample component: loads a bundle from StreamingAssets, generates into a Texture2D without blocking the
// main thread (the model loads on a pool thread; sampling runs on the library's job thread, polled in Update), shows
// progress, cancels on disable; class-conditional bundles draw the class named by className. Compiled against
// signature stubs of Unity's API by scripts/test-engines.sh, never run here (no Unity): it only strings together
// DinofModel / DinofJob calls that the Mono tests cover.
using System;
using System.IO;
using System.Threading.Tasks;
using Dinof;
using UnityEngine;
using UnityEngine.Events;

namespace Dinof.Unity
{
    [AddComponentMenu("Dinof/Dinof Generator")]
    public sealed class DinofGenerator : MonoBehaviour
    {
        [Tooltip("Bundle directory (dinof.json + ONNX files) relative to StreamingAssets. Android keeps StreamingAssets " +
                 "inside the APK: read the files with UnityWebRequest and use DinofModel.LoadFromMemory there.")]
        public string bundle = "dinof/mnist";
        [Tooltip("Seed; negative = a new random seed each time.")]
        public long seed = -1;
        [Tooltip("Reverse steps; 0 = the bundle's default.")]
        public int steps;
        [Tooltip("Class-conditional bundles: the class to draw, by name (e.g. \"Sneaker\", ignoring case) or index " +
                 "(\"7\"). Required there; leave empty for an unconditional bundle.")]
        public string className = "";
        [Tooltip("Classifier-free guidance scale (bundles trained with label dropout); 0 = the bundle's default, " +
                 "negative = none.")]
        public float guidance;
        public bool generateOnStart = true;
        [Tooltip("Optional: the generated texture becomes this renderer's main texture.")]
        public Renderer target;
        public UnityEvent<Texture2D> onGenerated = new UnityEvent<Texture2D>();

        /// <summary>The latest image (reused between generations).</summary>
        public Texture2D Texture { get; private set; }
        /// <summary>0..1 while generating.</summary>
        public float Progress { get; private set; }
        public bool IsGenerating { get { return job != null; } }

        DinofModel model;
        Task<DinofModel> loading;
        DinofJob job;
        bool pending;

        void OnEnable()
        {
            string path = Path.Combine(Application.streamingAssetsPath, bundle);
            loading = Task.Run(() => DinofModel.Load(path));  // compiling the networks can take a while
            pending = generateOnStart;
        }

        /// <summary>Starts a generation (once the model is loaded); a running one is cancelled first.</summary>
        public void Generate() { pending = true; }

        public void Cancel()
        {
            if (job != null) job.Cancel();
        }

        void Update()
        {
            if (loading != null && loading.IsCompleted)
            {
                if (loading.IsFaulted) Debug.LogError("dinof: cannot load " + bundle + ": " + loading.Exception.GetBaseException().Message, this);
                else model = loading.Result;
                loading = null;
            }
            if (pending && model != null)
            {
                pending = false;
                if (job != null) job.Dispose();
                job = null;
                var o = new SampleOptions { Count = 1, Steps = (uint)Mathf.Max(0, steps) };
                if (seed >= 0) o.Seed = (ulong)seed;
                if (guidance != 0) o.Guidance = guidance;
                try
                {
                    // A wrong class name, or none for a conditional bundle, is refused here with the library's message.
                    if (!string.IsNullOrEmpty(className)) o.Labels = new[] { model.LabelIndex(className) };
                    job = model.Start(o);
                }
                catch (DinofException e)
                {
                    Debug.LogError("dinof: " + e.Message + " (" + e.Status + ")", this);
                    return;
                }
            }
            if (job == null) return;
            Progress = (float)job.Progress;
            if (!job.IsDone) return;
            try
            {
                var info = job.ModelInfo;
                Texture = DinofTextures.FromRgba8(job.GetResultRgba8(RowOrder.BottomUp), info.Width, info.Height, Texture);
                if (target != null) target.material.mainTexture = Texture;
                onGenerated.Invoke(Texture);
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

        void OnDisable()
        {
            // Both return at once: a running job is cancelled and detached by the library.
            if (job != null) job.Dispose();
            job = null;
            if (loading != null) loading.ContinueWith(t => { if (!t.IsFaulted) t.Result.Dispose(); });
            loading = null;
            if (model != null) model.Dispose();
            model = null;
        }
    }
}
