/* All eigenvalues of one random symmetric n × n matrix, by ELPA's two-stage solver (one MPI rank,
 * the whole matrix local) and by LAPACK dsyevd (values only), timed in the same run, with the largest
 * difference between the two. Measures whether ELPA (Debian libelpa-dev 2022.11, generic kernels)
 * would speed up `wisp density --method exact` (bench/README.md, "Exact spectra").
 *
 *   apt-get install libelpa-dev
 *   mpicc -O2 -o /tmp/elpa_vs_dsyevd bench/peers/elpa_vs_dsyevd.c $(pkg-config --cflags --libs elpa lapacke)
 *   OPENBLAS_CORETYPE=SkylakeX /tmp/elpa_vs_dsyevd 4096 64      # n, ELPA block size
 */
#include <elpa/elpa.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <lapacke.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  MPI_Init(&argc,&argv);
  int n=atoi(argv[1]); int nblk=argc>2?atoi(argv[2]):64;
  double *a=malloc(sizeof(double)*n*n),*b=malloc(sizeof(double)*n*n),*ev=malloc(sizeof(double)*n),*ev2=malloc(sizeof(double)*n);
  srand(1);
  // gram-like SPD: random symmetric
  for(int j=0;j<n;j++)for(int i=0;i<=j;i++){double x=(double)rand()/RAND_MAX-0.5; a[i+(size_t)j*n]=x;a[j+(size_t)i*n]=x;}
  memcpy(b,a,sizeof(double)*n*n);
  if(elpa_init(20221109)!=ELPA_OK){printf("init fail\n");return 1;}
  int err; elpa_t e=elpa_allocate(&err);
  elpa_set(e,"na",n,&err); elpa_set(e,"nev",n,&err); elpa_set(e,"local_nrows",n,&err); elpa_set(e,"local_ncols",n,&err);
  elpa_set(e,"nblk",nblk,&err); elpa_set(e,"mpi_comm_parent",MPI_Comm_c2f(MPI_COMM_WORLD),&err);
  elpa_set(e,"process_row",0,&err); elpa_set(e,"process_col",0,&err);
  if(elpa_setup(e)!=ELPA_OK){printf("setup fail\n");return 1;}
  elpa_set(e,"solver",ELPA_SOLVER_2STAGE,&err);
  double t0=now(); elpa_eigenvalues(e,a,ev,&err); double t1=now();
  printf("elpa2 err=%d %.2f s\n",err,t1-t0);
  double t2=now(); LAPACKE_dsyevd(LAPACK_COL_MAJOR,'N','U',n,b,n,ev2); double t3=now();
  printf("dsyevd %.2f s\n",t3-t2);
  double md=0; for(int i=0;i<n;i++){double d=ev[i]-ev2[i]; if(d<0)d=-d; if(d>md)md=d;}
  printf("max diff %.3e  (lmax %.4e)\n",md,ev2[n-1]);
  elpa_deallocate(e,&err); elpa_uninit(&err); MPI_Finalize();}
