// Unity-only: RGBA8 bytes from dinof into Texture2D. Not compiled or run by this repository's tests (no Unity here);
// the byte layout it relies on (RowOrder.BottomUp, H x W x 4 per image) is tested through the Mono tests.
using Dinof;
using UnityEngine;

namespace Dinof.Unity
{
    public static class DinofTextures
    {
        /// <summary>A texture from one image's RGBA8 bytes in RowOrder.BottomUp (what LoadRawTextureData expects).</summary>
        public static Texture2D FromRgba8(byte[] bottomUpRgba, int width, int height, Texture2D reuse = null)
        {
            var tex = reuse != null && reuse.width == width && reuse.height == height && reuse.format == TextureFormat.RGBA32
                ? reuse
                : new Texture2D(width, height, TextureFormat.RGBA32, false) { filterMode = FilterMode.Point, wrapMode = TextureWrapMode.Clamp };
            tex.LoadRawTextureData(bottomUpRgba);
            tex.Apply(false);
            return tex;
        }

        /// <summary>One texture per image of a finished job (throws the job's failure, as GetResultRgba8).</summary>
        public static Texture2D[] FromJob(DinofJob job)
        {
            var info = job.ModelInfo;
            var all = job.GetResultRgba8(RowOrder.BottomUp);
            var textures = new Texture2D[job.Count];
            for (int k = 0; k < job.Count; k++)
                textures[k] = FromRgba8(DinofImage.Slice(all, info.Width, info.Height, k), info.Width, info.Height);
            return textures;
        }
    }
}
