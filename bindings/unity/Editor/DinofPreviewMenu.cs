// Unity-only editor tool: Tools > Dinof > Preview Grid... picks a bundle folder, generates 16 images (a
// class-conditional bundle: one row of 4 per class) on the library's job thread (polled from EditorApplication.update, with a cancelable progress bar) and saves them as one PNG grid in
// Assets/. Compiled against signature stubs of Unity's API by scripts/test-engines.sh, never run here (no Unity);
// DinofImage.Grid is covered by the Mono tests.
using System.IO;
using Dinof;
using Dinof.Unity;
using UnityEditor;
using UnityEngine;

namespace Dinof.Editor
{
    static class DinofPreviewMenu
    {
        const int Columns = 4;
        static int Count = 16;
        static DinofModel model;
        static DinofJob job;

        [MenuItem("Tools/Dinof/Preview Grid...")]
        static void PreviewGrid()
        {
            if (job != null) return;
            string dir = EditorUtility.OpenFolderPanel("dinof bundle (folder with dinof.json)", Application.streamingAssetsPath, "");
            if (string.IsNullOrEmpty(dir)) return;
            try
            {
                model = DinofModel.Load(dir);
                var o = new SampleOptions { Count = 16 };
                int classes = model.Info.Classes;
                if (classes > 0)
                {
                    o.Count = (ulong)(classes * Columns);
                    o.Labels = new long[classes * Columns];
                    for (int k = 0; k < o.Labels.Length; k++) o.Labels[k] = k / Columns;
                }
                Count = (int)o.Count;
                job = model.Start(o);
                EditorApplication.update += Poll;
            }
            catch (DinofException e)
            {
                EditorUtility.DisplayDialog("dinof", e.Message, "OK");
                Release();
            }
        }

        static void Poll()
        {
            if (EditorUtility.DisplayCancelableProgressBar("dinof", "Generating " + Count + " images", (float)job.Progress))
                job.Cancel();
            if (!job.IsDone) return;
            EditorUtility.ClearProgressBar();
            try
            {
                var info = job.ModelInfo;
                int w, h;
                var grid = DinofImage.Grid(job.GetResultRgba8(RowOrder.TopDown), info.Width, info.Height, Count, Columns,
                    RowOrder.BottomUp, out w, out h);
                var tex = DinofTextures.FromRgba8(grid, w, h);
                string path = AssetDatabase.GenerateUniqueAssetPath("Assets/DinofPreview.png");
                File.WriteAllBytes(path, tex.EncodeToPNG());
                Object.DestroyImmediate(tex);
                AssetDatabase.ImportAsset(path);
                EditorGUIUtility.PingObject(AssetDatabase.LoadAssetAtPath<Texture2D>(path));
            }
            catch (DinofException e)
            {
                if (e.Status != DinofStatus.Cancelled) EditorUtility.DisplayDialog("dinof", e.Message, "OK");
            }
            finally
            {
                Release();
            }
        }

        static void Release()
        {
            EditorApplication.update -= Poll;
            if (job != null) job.Dispose();
            if (model != null) model.Dispose();
            job = null;
            model = null;
        }
    }
}
