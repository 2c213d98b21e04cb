#define PY_SSIZE_T_CLEAN
#include <Python.h>
__attribute__((noinline)) static PyObject* phase_000(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_001(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_002(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_003(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_004(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_005(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_006(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_007(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_008(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_009(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_010(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_011(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_012(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_013(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_014(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_015(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_016(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_017(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_018(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_019(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_020(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_021(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_022(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_023(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_024(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_025(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_026(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_027(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_028(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_029(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_030(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_031(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_032(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_033(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_034(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_035(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_036(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_037(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_038(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_039(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_040(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_041(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_042(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_043(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_044(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_045(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_046(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_047(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_048(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_049(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_050(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_051(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_052(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_053(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_054(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_055(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_056(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_057(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_058(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_059(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_060(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_061(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_062(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_063(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_064(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_065(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_066(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_067(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_068(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_069(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_070(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_071(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_072(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_073(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_074(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_075(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_076(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_077(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_078(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_079(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_080(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_081(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_082(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_083(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_084(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_085(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_086(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_087(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_088(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_089(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_090(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_091(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_092(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_093(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_094(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_095(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_096(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_097(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_098(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_099(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_100(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_101(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_102(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_103(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_104(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_105(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_106(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_107(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_108(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_109(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_110(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_111(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_112(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_113(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_114(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_115(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_116(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_117(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_118(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_119(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_120(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_121(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_122(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_123(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_124(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_125(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_126(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_127(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_128(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_129(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_130(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_131(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_132(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_133(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_134(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_135(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_136(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_137(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_138(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_139(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_140(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_141(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_142(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_143(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_144(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_145(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_146(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_147(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_148(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_149(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_150(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_151(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_152(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_153(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_154(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_155(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_156(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_157(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_158(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
__attribute__((noinline)) static PyObject* phase_159(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* r = PyObject_Vectorcall(args[0], args + 1, nargs - 1, NULL);
    __asm__ volatile("" ::: "memory");
    return r;
}
static PyMethodDef methods[] = {
    {"phase_000", (PyCFunction)(void(*)(void))phase_000, METH_FASTCALL, NULL},
    {"phase_001", (PyCFunction)(void(*)(void))phase_001, METH_FASTCALL, NULL},
    {"phase_002", (PyCFunction)(void(*)(void))phase_002, METH_FASTCALL, NULL},
    {"phase_003", (PyCFunction)(void(*)(void))phase_003, METH_FASTCALL, NULL},
    {"phase_004", (PyCFunction)(void(*)(void))phase_004, METH_FASTCALL, NULL},
    {"phase_005", (PyCFunction)(void(*)(void))phase_005, METH_FASTCALL, NULL},
    {"phase_006", (PyCFunction)(void(*)(void))phase_006, METH_FASTCALL, NULL},
    {"phase_007", (PyCFunction)(void(*)(void))phase_007, METH_FASTCALL, NULL},
    {"phase_008", (PyCFunction)(void(*)(void))phase_008, METH_FASTCALL, NULL},
    {"phase_009", (PyCFunction)(void(*)(void))phase_009, METH_FASTCALL, NULL},
    {"phase_010", (PyCFunction)(void(*)(void))phase_010, METH_FASTCALL, NULL},
    {"phase_011", (PyCFunction)(void(*)(void))phase_011, METH_FASTCALL, NULL},
    {"phase_012", (PyCFunction)(void(*)(void))phase_012, METH_FASTCALL, NULL},
    {"phase_013", (PyCFunction)(void(*)(void))phase_013, METH_FASTCALL, NULL},
    {"phase_014", (PyCFunction)(void(*)(void))phase_014, METH_FASTCALL, NULL},
    {"phase_015", (PyCFunction)(void(*)(void))phase_015, METH_FASTCALL, NULL},
    {"phase_016", (PyCFunction)(void(*)(void))phase_016, METH_FASTCALL, NULL},
    {"phase_017", (PyCFunction)(void(*)(void))phase_017, METH_FASTCALL, NULL},
    {"phase_018", (PyCFunction)(void(*)(void))phase_018, METH_FASTCALL, NULL},
    {"phase_019", (PyCFunction)(void(*)(void))phase_019, METH_FASTCALL, NULL},
    {"phase_020", (PyCFunction)(void(*)(void))phase_020, METH_FASTCALL, NULL},
    {"phase_021", (PyCFunction)(void(*)(void))phase_021, METH_FASTCALL, NULL},
    {"phase_022", (PyCFunction)(void(*)(void))phase_022, METH_FASTCALL, NULL},
    {"phase_023", (PyCFunction)(void(*)(void))phase_023, METH_FASTCALL, NULL},
    {"phase_024", (PyCFunction)(void(*)(void))phase_024, METH_FASTCALL, NULL},
    {"phase_025", (PyCFunction)(void(*)(void))phase_025, METH_FASTCALL, NULL},
    {"phase_026", (PyCFunction)(void(*)(void))phase_026, METH_FASTCALL, NULL},
    {"phase_027", (PyCFunction)(void(*)(void))phase_027, METH_FASTCALL, NULL},
    {"phase_028", (PyCFunction)(void(*)(void))phase_028, METH_FASTCALL, NULL},
    {"phase_029", (PyCFunction)(void(*)(void))phase_029, METH_FASTCALL, NULL},
    {"phase_030", (PyCFunction)(void(*)(void))phase_030, METH_FASTCALL, NULL},
    {"phase_031", (PyCFunction)(void(*)(void))phase_031, METH_FASTCALL, NULL},
    {"phase_032", (PyCFunction)(void(*)(void))phase_032, METH_FASTCALL, NULL},
    {"phase_033", (PyCFunction)(void(*)(void))phase_033, METH_FASTCALL, NULL},
    {"phase_034", (PyCFunction)(void(*)(void))phase_034, METH_FASTCALL, NULL},
    {"phase_035", (PyCFunction)(void(*)(void))phase_035, METH_FASTCALL, NULL},
    {"phase_036", (PyCFunction)(void(*)(void))phase_036, METH_FASTCALL, NULL},
    {"phase_037", (PyCFunction)(void(*)(void))phase_037, METH_FASTCALL, NULL},
    {"phase_038", (PyCFunction)(void(*)(void))phase_038, METH_FASTCALL, NULL},
    {"phase_039", (PyCFunction)(void(*)(void))phase_039, METH_FASTCALL, NULL},
    {"phase_040", (PyCFunction)(void(*)(void))phase_040, METH_FASTCALL, NULL},
    {"phase_041", (PyCFunction)(void(*)(void))phase_041, METH_FASTCALL, NULL},
    {"phase_042", (PyCFunction)(void(*)(void))phase_042, METH_FASTCALL, NULL},
    {"phase_043", (PyCFunction)(void(*)(void))phase_043, METH_FASTCALL, NULL},
    {"phase_044", (PyCFunction)(void(*)(void))phase_044, METH_FASTCALL, NULL},
    {"phase_045", (PyCFunction)(void(*)(void))phase_045, METH_FASTCALL, NULL},
    {"phase_046", (PyCFunction)(void(*)(void))phase_046, METH_FASTCALL, NULL},
    {"phase_047", (PyCFunction)(void(*)(void))phase_047, METH_FASTCALL, NULL},
    {"phase_048", (PyCFunction)(void(*)(void))phase_048, METH_FASTCALL, NULL},
    {"phase_049", (PyCFunction)(void(*)(void))phase_049, METH_FASTCALL, NULL},
    {"phase_050", (PyCFunction)(void(*)(void))phase_050, METH_FASTCALL, NULL},
    {"phase_051", (PyCFunction)(void(*)(void))phase_051, METH_FASTCALL, NULL},
    {"phase_052", (PyCFunction)(void(*)(void))phase_052, METH_FASTCALL, NULL},
    {"phase_053", (PyCFunction)(void(*)(void))phase_053, METH_FASTCALL, NULL},
    {"phase_054", (PyCFunction)(void(*)(void))phase_054, METH_FASTCALL, NULL},
    {"phase_055", (PyCFunction)(void(*)(void))phase_055, METH_FASTCALL, NULL},
    {"phase_056", (PyCFunction)(void(*)(void))phase_056, METH_FASTCALL, NULL},
    {"phase_057", (PyCFunction)(void(*)(void))phase_057, METH_FASTCALL, NULL},
    {"phase_058", (PyCFunction)(void(*)(void))phase_058, METH_FASTCALL, NULL},
    {"phase_059", (PyCFunction)(void(*)(void))phase_059, METH_FASTCALL, NULL},
    {"phase_060", (PyCFunction)(void(*)(void))phase_060, METH_FASTCALL, NULL},
    {"phase_061", (PyCFunction)(void(*)(void))phase_061, METH_FASTCALL, NULL},
    {"phase_062", (PyCFunction)(void(*)(void))phase_062, METH_FASTCALL, NULL},
    {"phase_063", (PyCFunction)(void(*)(void))phase_063, METH_FASTCALL, NULL},
    {"phase_064", (PyCFunction)(void(*)(void))phase_064, METH_FASTCALL, NULL},
    {"phase_065", (PyCFunction)(void(*)(void))phase_065, METH_FASTCALL, NULL},
    {"phase_066", (PyCFunction)(void(*)(void))phase_066, METH_FASTCALL, NULL},
    {"phase_067", (PyCFunction)(void(*)(void))phase_067, METH_FASTCALL, NULL},
    {"phase_068", (PyCFunction)(void(*)(void))phase_068, METH_FASTCALL, NULL},
    {"phase_069", (PyCFunction)(void(*)(void))phase_069, METH_FASTCALL, NULL},
    {"phase_070", (PyCFunction)(void(*)(void))phase_070, METH_FASTCALL, NULL},
    {"phase_071", (PyCFunction)(void(*)(void))phase_071, METH_FASTCALL, NULL},
    {"phase_072", (PyCFunction)(void(*)(void))phase_072, METH_FASTCALL, NULL},
    {"phase_073", (PyCFunction)(void(*)(void))phase_073, METH_FASTCALL, NULL},
    {"phase_074", (PyCFunction)(void(*)(void))phase_074, METH_FASTCALL, NULL},
    {"phase_075", (PyCFunction)(void(*)(void))phase_075, METH_FASTCALL, NULL},
    {"phase_076", (PyCFunction)(void(*)(void))phase_076, METH_FASTCALL, NULL},
    {"phase_077", (PyCFunction)(void(*)(void))phase_077, METH_FASTCALL, NULL},
    {"phase_078", (PyCFunction)(void(*)(void))phase_078, METH_FASTCALL, NULL},
    {"phase_079", (PyCFunction)(void(*)(void))phase_079, METH_FASTCALL, NULL},
    {"phase_080", (PyCFunction)(void(*)(void))phase_080, METH_FASTCALL, NULL},
    {"phase_081", (PyCFunction)(void(*)(void))phase_081, METH_FASTCALL, NULL},
    {"phase_082", (PyCFunction)(void(*)(void))phase_082, METH_FASTCALL, NULL},
    {"phase_083", (PyCFunction)(void(*)(void))phase_083, METH_FASTCALL, NULL},
    {"phase_084", (PyCFunction)(void(*)(void))phase_084, METH_FASTCALL, NULL},
    {"phase_085", (PyCFunction)(void(*)(void))phase_085, METH_FASTCALL, NULL},
    {"phase_086", (PyCFunction)(void(*)(void))phase_086, METH_FASTCALL, NULL},
    {"phase_087", (PyCFunction)(void(*)(void))phase_087, METH_FASTCALL, NULL},
    {"phase_088", (PyCFunction)(void(*)(void))phase_088, METH_FASTCALL, NULL},
    {"phase_089", (PyCFunction)(void(*)(void))phase_089, METH_FASTCALL, NULL},
    {"phase_090", (PyCFunction)(void(*)(void))phase_090, METH_FASTCALL, NULL},
    {"phase_091", (PyCFunction)(void(*)(void))phase_091, METH_FASTCALL, NULL},
    {"phase_092", (PyCFunction)(void(*)(void))phase_092, METH_FASTCALL, NULL},
    {"phase_093", (PyCFunction)(void(*)(void))phase_093, METH_FASTCALL, NULL},
    {"phase_094", (PyCFunction)(void(*)(void))phase_094, METH_FASTCALL, NULL},
    {"phase_095", (PyCFunction)(void(*)(void))phase_095, METH_FASTCALL, NULL},
    {"phase_096", (PyCFunction)(void(*)(void))phase_096, METH_FASTCALL, NULL},
    {"phase_097", (PyCFunction)(void(*)(void))phase_097, METH_FASTCALL, NULL},
    {"phase_098", (PyCFunction)(void(*)(void))phase_098, METH_FASTCALL, NULL},
    {"phase_099", (PyCFunction)(void(*)(void))phase_099, METH_FASTCALL, NULL},
    {"phase_100", (PyCFunction)(void(*)(void))phase_100, METH_FASTCALL, NULL},
    {"phase_101", (PyCFunction)(void(*)(void))phase_101, METH_FASTCALL, NULL},
    {"phase_102", (PyCFunction)(void(*)(void))phase_102, METH_FASTCALL, NULL},
    {"phase_103", (PyCFunction)(void(*)(void))phase_103, METH_FASTCALL, NULL},
    {"phase_104", (PyCFunction)(void(*)(void))phase_104, METH_FASTCALL, NULL},
    {"phase_105", (PyCFunction)(void(*)(void))phase_105, METH_FASTCALL, NULL},
    {"phase_106", (PyCFunction)(void(*)(void))phase_106, METH_FASTCALL, NULL},
    {"phase_107", (PyCFunction)(void(*)(void))phase_107, METH_FASTCALL, NULL},
    {"phase_108", (PyCFunction)(void(*)(void))phase_108, METH_FASTCALL, NULL},
    {"phase_109", (PyCFunction)(void(*)(void))phase_109, METH_FASTCALL, NULL},
    {"phase_110", (PyCFunction)(void(*)(void))phase_110, METH_FASTCALL, NULL},
    {"phase_111", (PyCFunction)(void(*)(void))phase_111, METH_FASTCALL, NULL},
    {"phase_112", (PyCFunction)(void(*)(void))phase_112, METH_FASTCALL, NULL},
    {"phase_113", (PyCFunction)(void(*)(void))phase_113, METH_FASTCALL, NULL},
    {"phase_114", (PyCFunction)(void(*)(void))phase_114, METH_FASTCALL, NULL},
    {"phase_115", (PyCFunction)(void(*)(void))phase_115, METH_FASTCALL, NULL},
    {"phase_116", (PyCFunction)(void(*)(void))phase_116, METH_FASTCALL, NULL},
    {"phase_117", (PyCFunction)(void(*)(void))phase_117, METH_FASTCALL, NULL},
    {"phase_118", (PyCFunction)(void(*)(void))phase_118, METH_FASTCALL, NULL},
    {"phase_119", (PyCFunction)(void(*)(void))phase_119, METH_FASTCALL, NULL},
    {"phase_120", (PyCFunction)(void(*)(void))phase_120, METH_FASTCALL, NULL},
    {"phase_121", (PyCFunction)(void(*)(void))phase_121, METH_FASTCALL, NULL},
    {"phase_122", (PyCFunction)(void(*)(void))phase_122, METH_FASTCALL, NULL},
    {"phase_123", (PyCFunction)(void(*)(void))phase_123, METH_FASTCALL, NULL},
    {"phase_124", (PyCFunction)(void(*)(void))phase_124, METH_FASTCALL, NULL},
    {"phase_125", (PyCFunction)(void(*)(void))phase_125, METH_FASTCALL, NULL},
    {"phase_126", (PyCFunction)(void(*)(void))phase_126, METH_FASTCALL, NULL},
    {"phase_127", (PyCFunction)(void(*)(void))phase_127, METH_FASTCALL, NULL},
    {"phase_128", (PyCFunction)(void(*)(void))phase_128, METH_FASTCALL, NULL},
    {"phase_129", (PyCFunction)(void(*)(void))phase_129, METH_FASTCALL, NULL},
    {"phase_130", (PyCFunction)(void(*)(void))phase_130, METH_FASTCALL, NULL},
    {"phase_131", (PyCFunction)(void(*)(void))phase_131, METH_FASTCALL, NULL},
    {"phase_132", (PyCFunction)(void(*)(void))phase_132, METH_FASTCALL, NULL},
    {"phase_133", (PyCFunction)(void(*)(void))phase_133, METH_FASTCALL, NULL},
    {"phase_134", (PyCFunction)(void(*)(void))phase_134, METH_FASTCALL, NULL},
    {"phase_135", (PyCFunction)(void(*)(void))phase_135, METH_FASTCALL, NULL},
    {"phase_136", (PyCFunction)(void(*)(void))phase_136, METH_FASTCALL, NULL},
    {"phase_137", (PyCFunction)(void(*)(void))phase_137, METH_FASTCALL, NULL},
    {"phase_138", (PyCFunction)(void(*)(void))phase_138, METH_FASTCALL, NULL},
    {"phase_139", (PyCFunction)(void(*)(void))phase_139, METH_FASTCALL, NULL},
    {"phase_140", (PyCFunction)(void(*)(void))phase_140, METH_FASTCALL, NULL},
    {"phase_141", (PyCFunction)(void(*)(void))phase_141, METH_FASTCALL, NULL},
    {"phase_142", (PyCFunction)(void(*)(void))phase_142, METH_FASTCALL, NULL},
    {"phase_143", (PyCFunction)(void(*)(void))phase_143, METH_FASTCALL, NULL},
    {"phase_144", (PyCFunction)(void(*)(void))phase_144, METH_FASTCALL, NULL},
    {"phase_145", (PyCFunction)(void(*)(void))phase_145, METH_FASTCALL, NULL},
    {"phase_146", (PyCFunction)(void(*)(void))phase_146, METH_FASTCALL, NULL},
    {"phase_147", (PyCFunction)(void(*)(void))phase_147, METH_FASTCALL, NULL},
    {"phase_148", (PyCFunction)(void(*)(void))phase_148, METH_FASTCALL, NULL},
    {"phase_149", (PyCFunction)(void(*)(void))phase_149, METH_FASTCALL, NULL},
    {"phase_150", (PyCFunction)(void(*)(void))phase_150, METH_FASTCALL, NULL},
    {"phase_151", (PyCFunction)(void(*)(void))phase_151, METH_FASTCALL, NULL},
    {"phase_152", (PyCFunction)(void(*)(void))phase_152, METH_FASTCALL, NULL},
    {"phase_153", (PyCFunction)(void(*)(void))phase_153, METH_FASTCALL, NULL},
    {"phase_154", (PyCFunction)(void(*)(void))phase_154, METH_FASTCALL, NULL},
    {"phase_155", (PyCFunction)(void(*)(void))phase_155, METH_FASTCALL, NULL},
    {"phase_156", (PyCFunction)(void(*)(void))phase_156, METH_FASTCALL, NULL},
    {"phase_157", (PyCFunction)(void(*)(void))phase_157, METH_FASTCALL, NULL},
    {"phase_158", (PyCFunction)(void(*)(void))phase_158, METH_FASTCALL, NULL},
    {"phase_159", (PyCFunction)(void(*)(void))phase_159, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "phasetramp", NULL, -1, methods};
PyMODINIT_FUNC PyInit_phasetramp(void) { return PyModule_Create(&mod); }
