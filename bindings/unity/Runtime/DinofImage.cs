// RGBA8 row order. The library writes each image top row first (row-major, like a PNG). Unity's
// Texture2D.LoadRawTextureData expects the bottom row first (texture v = 0 at the bottom), so Unity callers ask for
// RowOrder.BottomUp (or call FlipRows); Unreal and most other APIs take TopDown as is.
using System;

namespace Dinof
{
    public enum RowOrder
    {
        /// <summary>The library's order: first row = top of the image.</summary>
        TopDown,
        /// <summary>First row = bottom of the image: Texture2D.LoadRawTextureData / SetPixelData in Unity.</summary>
        BottomUp,
    }

    public static class DinofImage
    {
        /// <summary>Reverses the row order of each of `count` width x height RGBA8 images in place.</summary>
        public static void FlipRows(byte[] rgba, int width, int height, int count)
        {
            int row = width * 4, image = row * height;
            if (rgba == null) throw new ArgumentNullException("rgba");
            if ((long)image * count > rgba.Length) throw new ArgumentException("buffer smaller than count images");
            var tmp = new byte[row];
            for (int k = 0; k < count; k++)
            {
                int top = k * image, bottom = top + image - row;
                for (; top < bottom; top += row, bottom -= row)
                {
                    Buffer.BlockCopy(rgba, top, tmp, 0, row);
                    Buffer.BlockCopy(rgba, bottom, rgba, top, row);
                    Buffer.BlockCopy(tmp, 0, rgba, bottom, row);
                }
            }
        }

        /// <summary>Image `index` of a batch, as its own buffer (one texture per image).</summary>
        public static byte[] Slice(byte[] rgba, int width, int height, int index)
        {
            int size = width * height * 4;
            var one = new byte[size];
            Buffer.BlockCopy(rgba, index * size, one, 0, size);
            return one;
        }

        /// <summary>
        /// Tiles `count` top-down RGBA8 images into one grid image, `columns` wide, row-major from the top left;
        /// empty cells are transparent black. Returns the grid in the requested row order; gridWidth/gridHeight
        /// receive its size.
        /// </summary>
        public static byte[] Grid(byte[] rgba, int width, int height, int count, int columns, RowOrder order,
            out int gridWidth, out int gridHeight)
        {
            if (columns < 1) throw new ArgumentOutOfRangeException("columns");
            int rows = (count + columns - 1) / columns;
            gridWidth = columns * width;
            gridHeight = rows * height;
            var grid = new byte[gridWidth * gridHeight * 4];
            int row = width * 4;
            for (int k = 0; k < count; k++)
            {
                int x0 = (k % columns) * width, y0 = (k / columns) * height;
                for (int y = 0; y < height; y++)
                    Buffer.BlockCopy(rgba, (k * height + y) * row, grid, ((y0 + y) * gridWidth + x0) * 4, row);
            }
            if (order == RowOrder.BottomUp) FlipRows(grid, gridWidth, gridHeight, 1);
            return grid;
        }
    }
}
