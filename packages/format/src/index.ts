export const FORMAT_MAJOR = 1;
