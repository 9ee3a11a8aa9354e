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

        /// <summary>
        /// A sprite atlas of a finished job's images (e.g. N sprites of one category): one texture, `columns` images
        /// wide (DinofImage.Grid), point-filtered for pixel art, and a Sprite per image (row-major from the top left,
        /// pivot at the centre, each one unit wide unless pixelsPerUnit is given). Transparency is the images' straight
        /// alpha.
        /// </summary>
        public static Texture2D AtlasFromJob(DinofJob job, int columns, out Sprite[] sprites, float pixelsPerUnit = 0f)
        {
            var info = job.ModelInfo;
            int w = info.Width, h = info.Height, n = job.Count, gw, gh;
            var grid = DinofImage.Grid(job.GetResultRgba8(RowOrder.TopDown), w, h, n, columns, RowOrder.BottomUp,
                out gw, out gh);
            var atlas = FromRgba8(grid, gw, gh);
            sprites = new Sprite[n];
            for (int k = 0; k < n; k++)
            {
                // Texture coordinates start at the bottom: the grid's top row of images has the largest y.
                var rect = new Rect((k % columns) * w, gh - (k / columns + 1) * h, w, h);
                sprites[k] = Sprite.Create(atlas, rect, new Vector2(0.5f, 0.5f), pixelsPerUnit > 0f ? pixelsPerUnit : w);
            }
            return atlas;
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
