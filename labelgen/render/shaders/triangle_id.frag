// Triangle-id pass: writes gl_PrimitiveID in R, G, B (24 bits) and the chunk index (the
// segmentation colour uniform) in A, as exact bytes to an RGBA8 target: pyrender's
// segmentation pass neither blends nor multisamples.
#version 330 core
uniform vec3 color;
out vec4 frag_color;
void main() {
    uint id = uint(gl_PrimitiveID);
    frag_color = vec4(float(id & 255u), float((id >> 8) & 255u), float((id >> 16) & 255u),
                      round(color.r * 255.0)) / 255.0;
}
